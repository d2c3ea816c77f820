-- delays: delay_intervals' counts per leaf of the grid, interval and urgency: episodes
-- measured (days >= 0), over their threshold, out of order (days < 0), not known to the
-- day.
-- Shared views: case_cells, episode_intervals.
SELECT c.leaf_month, c.leaf_year, i.interval_no, i.urgency,
       SUM(CASE WHEN i.days >= 0 THEN 1 ELSE 0 END) AS episodes,
       SUM(CASE WHEN i.days >= 0 AND i.days > i.threshold_days THEN 1 ELSE 0 END) AS over_threshold,
       SUM(CASE WHEN i.days < 0 THEN 1 ELSE 0 END) AS out_of_order,
       SUM(CASE WHEN i.to_the_day THEN 0 ELSE 1 END) AS not_to_the_day
FROM episode_intervals i
JOIN case_cells c ON c.case_key = i.case_key
GROUP BY c.leaf_month, c.leaf_year, i.interval_no, i.urgency
