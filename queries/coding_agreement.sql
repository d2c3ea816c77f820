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
    -- Each code and theme, numbered within its level (1 code, 2 theme) by its order in
    -- the code list: the joins and groupings below compare these integers, not text.
    SELECT 1 AS level_no, 'code' AS level, code AS item, code_order AS item_order FROM codes
    UNION ALL
    SELECT 2 AS level_no, 'theme' AS level, theme AS item, theme_order AS item_order FROM themes
),
given AS (
    -- Each (level, item, case, coder) a coder gave, once (codes outside the code list
    -- are no item).
    SELECT DISTINCT 1 AS level_no, k.code_order AS item_order, c.case_key, c.coder
    FROM codings c
    JOIN codes k ON k.code = CAST(c.code AS VARCHAR)
    UNION
    SELECT DISTINCT 2 AS level_no, k.theme_order AS item_order, c.case_key, c.coder
    FROM codings c
    JOIN codes k ON k.code = CAST(c.code AS VARCHAR)
),
per_case AS (
    SELECT g.level_no,
           g.item_order,
           g.case_key,
           COUNT(*) AS yes,
           MAX(CASE WHEN g.coder = f.coder THEN 1 ELSE 0 END) AS first_yes
    FROM given g
    CROSS JOIN first_coder f
    GROUP BY g.level_no, g.item_order, g.case_key
),
counted AS (
    SELECT i.level_no,
           i.item_order,
           f.sample_coders,
           s.coders,
           COALESCE(p.yes, 0) AS yes,
           COALESCE(p.first_yes, 0) AS first_yes,
           COUNT(*) AS cases
    FROM (SELECT level_no, item_order FROM items) i
    CROSS JOIN sample s
    CROSS JOIN first_coder f
    LEFT JOIN per_case p
           ON p.level_no = i.level_no AND p.item_order = i.item_order AND p.case_key = s.case_key
    GROUP BY i.level_no, i.item_order, f.sample_coders, s.coders, COALESCE(p.yes, 0),
             COALESCE(p.first_yes, 0)
)
SELECT i.level,
       i.item,
       i.item_order,
       c.sample_coders,
       c.coders,
       c.yes,
       c.first_yes,
       c.cases
FROM counted c
JOIN items i ON i.level_no = c.level_no AND i.item_order = c.item_order
ORDER BY i.level, i.item_order, c.coders, c.yes, c.first_yes
