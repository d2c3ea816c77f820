-- case_themes (shared view): which cases have which themes.
-- One row per case and theme for which the case has at least one finding whose code
-- maps to the theme through the code list in force.
-- Columns: case_key, theme, theme_order.
SELECT DISTINCT f.case_key, c.theme, c.theme_order
FROM findings f
JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
