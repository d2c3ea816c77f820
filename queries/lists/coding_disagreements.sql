-- coding_disagreements: the cases and codes on which coders differ, for adjudication.
-- Not a published figure: it names cases (never published by --publish).
--
-- For every case of the sample (coded by two or more coders, as in coding_agreement)
-- and every code that some but not all of its coders gave: one row per coder of the
-- case, with that coder's answer.
-- Rows: case_id, code, theme, coder, answer (`yes` or `no`).
-- Parameters: the scope; the code list.
WITH sample AS (
    SELECT case_id, COUNT(DISTINCT coder) AS coders
    FROM codings
    GROUP BY case_id
    HAVING COUNT(DISTINCT coder) >= 2
),
case_coders AS (
    SELECT DISTINCT c.case_id, c.coder
    FROM codings c
    JOIN sample s ON s.case_id = c.case_id
),
given AS (
    SELECT DISTINCT c.case_id, CAST(c.code AS VARCHAR) AS code, c.coder
    FROM codings c
    JOIN sample s ON s.case_id = c.case_id
    WHERE c.code IS NOT NULL
),
split AS (
    -- The (case, code) pairs given by some coders of the case but not all.
    SELECT g.case_id, g.code
    FROM given g
    JOIN sample s ON s.case_id = g.case_id
    GROUP BY g.case_id, g.code, s.coders
    HAVING COUNT(*) < s.coders
)
SELECT sp.case_id,
       sp.code,
       k.theme,
       cc.coder,
       CASE WHEN g.coder IS NULL THEN 'no' ELSE 'yes' END AS answer
FROM split sp
JOIN case_coders cc ON cc.case_id = sp.case_id
JOIN codes k ON k.code = sp.code
LEFT JOIN given g ON g.case_id = sp.case_id AND g.code = sp.code AND g.coder = cc.coder
ORDER BY sp.case_id, k.theme_order, sp.code, cc.coder
