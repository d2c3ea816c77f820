-- coding_agreement: how coders' independent codings of the same cases agree, per code
-- and per theme, as counts of cases (the input of `casework agreement`, which computes
-- kappa, alpha and AC1 from them with casework's stats::agreement).
--
-- The sample: the cases in scope that two or more coders coded (`codings`; a row with
-- no code records that its coder read the case and found nothing). A case coded by one
-- coder only is not in the sample (the ingest summary names such cases).
-- For every code of the code list and every theme (a coder gives a case a theme when
-- any of their codes for it maps to the theme), and every case of the sample:
--   coders     the coders who coded the case
--   yes        how many of them gave the code or theme
--   first_yes  1 when the first coder (the first name in sort order of all the
--              sample's coders) gave it: with two coders, this tells which one did
-- Rows: level (`code` or `theme`), item, item_order (code-list order), sample_coders
--       (coders of the whole sample), coders, yes, first_yes, cases (cases with that
--       combination).
-- Stages are not compared: a code given at any stage counts.
-- Parameters: the scope; the code list.
WITH sample AS (
    SELECT case_key, COUNT(DISTINCT coder) AS coders
    FROM codings
    GROUP BY case_key
    HAVING COUNT(DISTINCT coder) >= 2
),
first_coder AS (
    SELECT MIN(c.coder) AS coder, COUNT(DISTINCT c.coder) AS sample_coders
    FROM codings c
    JOIN sample s ON s.case_key = c.case_key
),
items AS (
    SELECT 'code' AS level, code AS item, code_order AS item_order FROM codes
    UNION ALL
    SELECT 'theme' AS level, theme AS item, theme_order AS item_order FROM themes
),
given AS (
    -- Each (level, item, case, coder) a coder gave, once.
    SELECT DISTINCT 'code' AS level, CAST(c.code AS VARCHAR) AS item, c.case_key, c.coder
    FROM codings c
    WHERE c.code IS NOT NULL
    UNION
    SELECT DISTINCT 'theme' AS level, k.theme AS item, c.case_key, c.coder
    FROM codings c
    JOIN codes k ON k.code = CAST(c.code AS VARCHAR)
),
per_case AS (
    SELECT g.level,
           g.item,
           g.case_key,
           COUNT(*) AS yes,
           MAX(CASE WHEN g.coder = f.coder THEN 1 ELSE 0 END) AS first_yes
    FROM given g
    CROSS JOIN first_coder f
    GROUP BY g.level, g.item, g.case_key
)
SELECT i.level,
       i.item,
       i.item_order,
       f.sample_coders,
       s.coders,
       COALESCE(p.yes, 0) AS yes,
       COALESCE(p.first_yes, 0) AS first_yes,
       COUNT(*) AS cases
FROM items i
CROSS JOIN sample s
CROSS JOIN first_coder f
LEFT JOIN per_case p ON p.level = i.level AND p.item = i.item AND p.case_key = s.case_key
GROUP BY i.level, i.item, i.item_order, f.sample_coders, s.coders, COALESCE(p.yes, 0), COALESCE(p.first_yes, 0)
ORDER BY i.level, i.item_order, s.coders, yes, first_yes
