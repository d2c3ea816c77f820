-- episodes (shared view): one row per episode of a case, from its events.
--
-- Columns: case_key, episode; for each step of the spec (requested, performed, reviewed,
-- reported, alert_raised, alert_acknowledged, acted_on, patient_informed, diagnosed,
-- learning_review) `<step>_at`, the first time it happened (null when the episode has
-- no such event); `urgency_rank`, the most urgent urgency recorded on any of its events
-- (1 critical, 2 urgent, 3 significant, 4 routine, 5 none recorded: "missing"); and
-- `flags`, the rest of what the measures need about the episode, as bits of one integer:
--   bit 24 + s       the episode has step s (the steps numbered 0 to 9 in the order above);
--   bit 2s           a record of step s is known only to the month or the year
--                    (occurred_at_precision; detail 0);
--   bit 2s + 1       a record of step s has a day but no time of day (detail 1);
--                    neither bit: every record of the step has a time of day (detail 2);
--   bit 19 + r       an event of the episode records the urgency of rank r (1 to 4).
-- A step's detail is its least detailed record's: the lowest of its bits set.
-- Read by episode_intervals and delay_coded_vs_measured. casework computes it once per
-- session, at its first use (docs/scaling.md), where DataFusion would otherwise compute a
-- view again wherever a query names it: it is one grouped pass over every event, the
-- measures' largest piece of work and the part that spills.
-- Why bits: one BIT_OR in place of eleven aggregates (the details and the urgency) makes
-- the grouped state half as large, and lets episode_intervals meet an episode with its
-- threshold rows by comparing integers.
-- Portability: BIT_OR and the operators <<, & and | are DataFusion's and DuckDB's
-- (Spark: bit_or, shiftleft).
-- The enumerations (event, urgency) are compared as they are stored, dictionary-encoded:
-- DataFusion compares a dictionary's few values once and maps its codes, where a CAST to
-- text would copy every row's string.
-- The CASE lists name every event kind of the spec (bundle-v1): a new one needs a line
-- here (with the next number), a column, and a line in episode_intervals' VALUES list.
WITH steps AS (
    -- Each event's step number, how much of its time the input gave (2 a time of day,
    -- 1 a day only, 0 only a month or a year: occurred_at_precision; a warehouse written
    -- before that column existed holds days only) and its urgency's rank.
    SELECT case_key,
           episode,
           occurred_at,
           CASE event
                WHEN 'requested' THEN 0
                WHEN 'performed' THEN 1
                WHEN 'reviewed' THEN 2
                WHEN 'reported' THEN 3
                WHEN 'alert_raised' THEN 4
                WHEN 'alert_acknowledged' THEN 5
                WHEN 'acted_on' THEN 6
                WHEN 'patient_informed' THEN 7
                WHEN 'diagnosed' THEN 8
                WHEN 'learning_review' THEN 9
           END AS step,
           CASE WHEN occurred_at_precision <> 'day' THEN 0
                WHEN occurred_at_has_time THEN 2
                ELSE 1 END AS detail,
           CASE urgency
                WHEN 'critical' THEN 1 WHEN 'urgent' THEN 2
                WHEN 'significant' THEN 3 WHEN 'routine' THEN 4 END AS urgency_rank
    FROM events
),
grouped AS (
    -- One row per episode: the first time of each step, and the flags. One grouped pass
    -- over the events (which spills to disk under the memory limit), instead of joining
    -- the events to themselves.
    SELECT case_key,
           episode,
           MIN(CASE WHEN step = 0 THEN occurred_at END) AS requested_at,
           MIN(CASE WHEN step = 1 THEN occurred_at END) AS performed_at,
           MIN(CASE WHEN step = 2 THEN occurred_at END) AS reviewed_at,
           MIN(CASE WHEN step = 3 THEN occurred_at END) AS reported_at,
           MIN(CASE WHEN step = 4 THEN occurred_at END) AS alert_raised_at,
           MIN(CASE WHEN step = 5 THEN occurred_at END) AS alert_acknowledged_at,
           MIN(CASE WHEN step = 6 THEN occurred_at END) AS acted_on_at,
           MIN(CASE WHEN step = 7 THEN occurred_at END) AS patient_informed_at,
           MIN(CASE WHEN step = 8 THEN occurred_at END) AS diagnosed_at,
           MIN(CASE WHEN step = 9 THEN occurred_at END) AS learning_review_at,
           BIT_OR(COALESCE(CAST(16777216 AS BIGINT) << step, 0)
                  | COALESCE(CASE detail
                                  WHEN 0 THEN CAST(1 AS BIGINT) << (2 * step)
                                  WHEN 1 THEN CAST(2 AS BIGINT) << (2 * step)
                                  ELSE 0 END, 0)
                  | COALESCE(CAST(524288 AS BIGINT) << urgency_rank, 0)) AS flags
    FROM steps
    GROUP BY case_key, episode
)
-- An episode's urgency is the most urgent one recorded on any of its events (rank 5,
-- "missing", when none is).
SELECT *,
       CASE WHEN (flags & 1048576) <> 0 THEN 1
            WHEN (flags & 2097152) <> 0 THEN 2
            WHEN (flags & 4194304) <> 0 THEN 3
            WHEN (flags & 8388608) <> 0 THEN 4
            ELSE 5 END AS urgency_rank
FROM grouped
