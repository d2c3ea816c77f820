-- case_theme_bits (shared view): each case's themes as the bits of one integer.
-- One row per case with at least one finding whose code maps to a theme through the
-- code list in force: `themes` has bit n - 1 set for each theme_order n up to 62 that
-- the case's findings map to (bit 62 and the sign bit stay clear).
-- Columns: case_key, themes.
-- Why: a measure that counts cases per value and theme can group its cases by
-- (value, themes), a few rows per value, and cross those with the themes, instead of
-- joining every case to each of its themes and grouping millions of (case, theme)
-- rows. Themes past the 62nd are not in `themes`: a measure that uses this view counts
-- them from case_themes (theme_order > 62), which reads nothing for a shorter list.
-- Portability: BIT_OR and << are DataFusion's and DuckDB's.
SELECT f.case_key,
       BIT_OR(CASE WHEN c.theme_order <= 62 THEN CAST(1 AS BIGINT) << (c.theme_order - 1)
                   ELSE CAST(0 AS BIGINT) END) AS themes
FROM findings f
JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
GROUP BY f.case_key
