-- case_cells (a view of the publication's queries): where each case sits in the
-- publication's cube.
--
--   leaf_month:  the first day of the month of the publication's date field
--                (parameters.date_field), when the date is known to the day or month
--   leaf_year:   its year, when the date is known (to the day, month or year)
--   organisation_code, region, source, decision: the case's groupings
--
-- A case with leaf_month belongs to that month, its quarter, calendar year and
-- financial year; a case with only leaf_year to that calendar year; every case to the
-- whole period (spec/grid.rs).
-- Parameters: the date field.
SELECT k.case_key,
       CASE WHEN x.d IS NOT NULL AND x.precision <> 'year'
            THEN CAST(date_trunc('month', x.d) AS DATE) END AS leaf_month,
       CAST(EXTRACT(YEAR FROM x.d) AS INT) AS leaf_year,
       k.organisation_code,
       k.region,
       CAST(k.source AS VARCHAR) AS source,
       CAST(k.decision AS VARCHAR) AS decision
FROM cases k
JOIN (
    SELECT c.case_key,
           CASE WHEN p.date_field = 'closed_date' THEN c.closed_date ELSE c.opened_date END AS d,
           COALESCE(CAST(CASE WHEN p.date_field = 'closed_date' THEN c.closed_date_precision
                              ELSE c.opened_date_precision END AS VARCHAR), 'day') AS precision
    FROM cases c
    CROSS JOIN parameters p
) x ON x.case_key = k.case_key
