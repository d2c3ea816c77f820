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
-- Portability: percentile_cont(...) WITHIN GROUP is standard SQL (DataFusion, DuckDB).
SELECT interval_no,
       from_event,
       to_event,
       urgency,
       MAX(threshold_days) AS threshold_days,
       SUM(CASE WHEN days >= 0 THEN 1 ELSE 0 END) AS episodes,
       median(CASE WHEN days >= 0 THEN days END) AS median_days,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE WHEN days >= 0 THEN days END) AS p90_days,
       MAX(CASE WHEN days >= 0 THEN days END) AS max_days,
       SUM(CASE WHEN days >= 0 AND days > threshold_days THEN 1 ELSE 0 END) AS over_threshold,
       CAST(SUM(CASE WHEN days >= 0 AND days > threshold_days THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN days >= 0 THEN 1 ELSE 0 END), 0) AS share_over,
       SUM(CASE WHEN days < 0 THEN 1 ELSE 0 END) AS out_of_order,
       SUM(CASE WHEN to_the_day THEN 0 ELSE 1 END) AS not_to_the_day
FROM episode_intervals
GROUP BY interval_no, from_event, to_event, urgency
ORDER BY interval_no, urgency
