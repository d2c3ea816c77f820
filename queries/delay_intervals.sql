-- delay_intervals: measured delays between the steps of an episode.
--
-- From the shared view episode_intervals (queries/shared/): for every interval of the
-- threshold table and every episode holding both steps, the days between them and the
-- threshold for the episode's urgency. A measured delay is an interval strictly longer
-- than its threshold. Intervals whose `to` step comes before the `from` step are counted
-- in `out_of_order`, and intervals with a step known only to the month or the year in
-- `not_to_the_day`; both are left out of every other column.
-- Per interval and urgency:
--   episodes:        episodes with both steps in order (the denominator)
--   median_days, p90_days, max_days: of those intervals, in days
--   over_threshold:  episodes over the threshold (the numerator); share_over = over / episodes
-- Parameters: the scope; the thresholds in force.
--
-- The median and the 90th percentile are percentile_cont's (Hyndman and Fan's type 7:
-- at position h = (n - 1) p of the sorted values, counted from 0, the value there, or
-- linear between the two values around it), computed from a histogram of the days
-- (one row per distinct value and how many intervals have it) rather than by
-- percentile_cont(): that function holds every value of a group in memory and cannot
-- spill (ten million cases needed 366 MB for one interval), where the histogram is a
-- grouped count and its running sum a window, both of which spill.
-- The grouped passes group on interval_no and the urgency's rank alone (integers); each
-- interval's from and to events (one pair per interval_no in `thresholds`) are joined on
-- at the end, and the urgency named there, so that six million intervals do not carry
-- three more strings to group on.
-- Portability: window functions and NULLS LAST are standard (DataFusion, DuckDB).
WITH hist AS (
    -- One grouped pass: per interval, urgency and measured value (null for the
    -- intervals left out), how many, and the counts of the other columns.
    SELECT interval_no,
           urgency_rank,
           CASE WHEN days >= 0 THEN days END AS d,
           MAX(threshold_days) AS threshold_days,
           COUNT(*) AS n,
           SUM(CASE WHEN days >= 0 AND days > threshold_days THEN 1 ELSE 0 END) AS over,
           SUM(CASE WHEN days < 0 THEN 1 ELSE 0 END) AS out_of_order,
           SUM(CASE WHEN to_the_day THEN 0 ELSE 1 END) AS not_to_the_day
    FROM episode_intervals
    GROUP BY interval_no, urgency_rank, CASE WHEN days >= 0 THEN days END
),
ranked AS (
    -- For each value, how many measured intervals of its group are at most it (upto),
    -- and how many the group has (total); the positions of the two percentiles.
    SELECT *,
           SUM(CASE WHEN d IS NOT NULL THEN n ELSE 0 END) OVER (
               PARTITION BY interval_no, urgency_rank
               ORDER BY d NULLS LAST
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
           SUM(CASE WHEN d IS NOT NULL THEN n ELSE 0 END) OVER (
               PARTITION BY interval_no, urgency_rank) AS total
    FROM hist
),
positioned AS (
    -- The value at a 0-based position k is the least d with more than k values at most
    -- it (upto > k). Positions and fractions are taken from whole numbers ((n - 1) 9 / 10,
    -- its remainder), so that a fraction is 0.1, not 0.0999999999999996 from 8.1 - 8.
    SELECT interval_no,
           urgency_rank,
           MAX(threshold_days) AS threshold_days,
           MAX(total) AS episodes,
           MIN(CASE WHEN d IS NOT NULL AND upto > FLOOR((total - 1) / 2.0) THEN d END) AS median_lo,
           MIN(CASE WHEN d IS NOT NULL AND upto > CEIL((total - 1) / 2.0) THEN d END) AS median_hi,
           MIN(CASE WHEN d IS NOT NULL AND upto > FLOOR((total - 1) * 9 / 10.0) THEN d END) AS p90_lo,
           MIN(CASE WHEN d IS NOT NULL AND upto > CEIL((total - 1) * 9 / 10.0) THEN d END) AS p90_hi,
           MAX(d) AS max_days,
           SUM(over) AS over_threshold,
           SUM(out_of_order) AS out_of_order,
           SUM(not_to_the_day) AS not_to_the_day
    FROM ranked
    GROUP BY interval_no, urgency_rank
),
interval_events AS (
    SELECT DISTINCT interval_no, from_event, to_event FROM thresholds
)
SELECT p.interval_no,
       e.from_event,
       e.to_event,
       -- The urgency's name, from its rank (as episode_intervals numbers them).
       CASE p.urgency_rank WHEN 1 THEN 'critical' WHEN 2 THEN 'urgent'
                           WHEN 3 THEN 'significant' WHEN 4 THEN 'routine'
                           ELSE 'missing' END AS urgency,
       threshold_days,
       episodes,
       median_lo + (median_hi - median_lo)
           * (CAST((episodes - 1) % 2 AS DOUBLE) / 2) AS median_days,
       p90_lo + (p90_hi - p90_lo)
           * (CAST(((episodes - 1) * 9) % 10 AS DOUBLE) / 10) AS p90_days,
       max_days,
       over_threshold,
       CAST(over_threshold AS DOUBLE) / NULLIF(episodes, 0) AS share_over,
       out_of_order,
       not_to_the_day
FROM positioned p
JOIN interval_events e ON e.interval_no = p.interval_no
ORDER BY p.interval_no, urgency
