//! What a mapping did that is not a row: the names its normalised lookups read as
//! another spelling or found nowhere, and the options that changed no row.

use super::Mapping;

impl Mapping {
    /// What the normalised lookups did: every name read as another spelling of the
    /// lookup file's, and every name that matched none.
    pub fn name_matches(&self) -> Vec<String> {
        let Ok(m) = self.matched.lock() else {
            return Vec::new();
        };
        let mut notes: Vec<String> = m
            .iter()
            .filter_map(|((l, name), spelling)| {
                let l = &self.lookups[*l];
                match spelling {
                    Some(s) if s == name => None,
                    Some(s) => Some(format!(
                        "lookup {}: {name:?} read as {s:?} of {} (case, spaces and punctuation ignored)",
                        l.name, l.file
                    )),
                    None => None,
                }
            })
            .collect();
        // Names found in no lookup row: every one for an alias file, otherwise the
        // first 20 of each lookup and how many more.
        for (i, l) in self.lookups.iter().enumerate() {
            let missing: Vec<&String> = m
                .iter()
                .filter(|((x, _), s)| *x == i && s.is_none())
                .map(|((_, name), _)| name)
                .collect();
            let shown = if l.normalised { missing.len() } else { 20 };
            for name in missing.iter().take(shown) {
                notes.push(match l.normalised {
                    true => format!(
                        "lookup {}: {name:?} matches no {} in {}, even ignoring case, spaces and punctuation: its fields are empty",
                        l.name, l.key, l.file
                    ),
                    false => format!(
                        "lookup {}: {name:?} matches no {} in {}: its fields are empty",
                        l.name, l.key, l.file
                    ),
                });
            }
            if missing.len() > shown {
                notes.push(format!(
                    "lookup {}: and {} more values that match no {} in {}",
                    l.name,
                    missing.len() - shown,
                    l.key,
                    l.file
                ));
            }
        }
        notes
    }

    /// The mapping's options that changed no row of this export: `skip_if` filters that
    /// skipped none, `else` lists never read, value-map entries no value took.
    pub fn unused(&self) -> Vec<String> {
        let Ok(u) = self.used.lock() else {
            return Vec::new();
        };
        let mut notes = Vec::new();
        let repeated = self.repeated.lock().map(|m| m.clone()).unwrap_or_default();
        let counted: Vec<String> = repeated.iter().map(|(t, n)| format!("{n} {t}")).collect();
        match (self.repeats_case_rows, counted.is_empty()) {
            (true, true) => notes.push(
                "repeats_case_rows: no event or recommendation row of this export repeated one already made".into(),
            ),
            (false, false) => notes.push(format!(
                "{} rows repeat, in every column, a row already made from an earlier export row of the case; they are stored as they are. If the export restates each case's events and recommendations (remedies) on every row (one row per finding or allegation), set repeats_case_rows = true under [export] to store them once",
                counted.join(", ")
            )),
            _ => {}
        }
        for (i, f) in self.skip_if.iter().enumerate() {
            if !u.filters.contains(&i) {
                notes.push(format!(
                    "skip_if on {:?} (mapping line {}) skipped no row of this export",
                    self.columns[f.column], f.line
                ));
            }
        }
        for target in &self.targets {
            for f in target.fields.iter().filter(|f| !f.fallbacks.is_empty()) {
                if !u.fallbacks.contains(&(target.index, f.target)) {
                    notes.push(format!(
                        "{}.{}: its else columns filled no row (the column was never empty where they had a value)",
                        target.label,
                        target.record_type.columns()[f.target].name
                    ));
                }
            }
        }
        for (m, map) in self.maps.iter().enumerate() {
            let mut idle: Vec<&str> = map
                .entries
                .keys()
                .filter(|k| !u.entries.get(&m).is_some_and(|e| e.contains(*k)))
                .map(String::as_str)
                .collect();
            if map.other.is_some() && !u.entries.get(&m).is_some_and(|e| e.contains("_other")) {
                idle.push("_other");
            }
            if !idle.is_empty() {
                idle.sort_unstable();
                notes.push(format!(
                    "value map {} (mapping line {}): no value of this export took {}",
                    map.name,
                    map.line,
                    idle.iter()
                        .map(|k| format!("{k:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        notes
    }
}
