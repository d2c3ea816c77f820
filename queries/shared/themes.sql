-- themes (shared view): the themes of the code list in force, in code-list order.
-- Columns: theme, theme_order (1, 2, ... by first appearance in the code list).
SELECT theme, MIN(theme_order) AS theme_order
FROM codes
GROUP BY theme
