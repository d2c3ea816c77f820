//! The validator alone, without a file reader in front: typing (dates, date-times,
//! amounts, booleans, allowed values, codes, lengths) and the cross-row checks (unique
//! case ids, rows of unknown cases, date order), then the record batch.
//!
//! Each input line is a row: the record type's name, then its fields in spec order,
//! separated by tabs (missing fields are empty).
#![no_main]

use casework::input::{RawRow, field};
use casework::spec::reject::Position;
use casework::spec::{CodeList, RecordType};
use casework::check::{BatchBuilder, Validator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut validator = Validator::new(CodeList::spec_default(), None);
    let mut builders: Vec<(RecordType, BatchBuilder, u64)> = RecordType::ALL
        .iter()
        .map(|&t| (t, BatchBuilder::new(t), 0))
        .collect();
    for (n, line) in text.lines().enumerate() {
        let mut fields = line.split('\t');
        let Some(t) = fields.next().and_then(RecordType::from_name) else {
            continue;
        };
        let width = t.columns().len();
        let mut values: Vec<Option<String>> = fields.take(width).map(field).collect();
        values.resize(width, None);
        let row = RawRow {
            position: Position::line("rows.tsv", n as u64 + 1),
            values,
            origin: None,
        };
        let (_, builder, stored) = builders
            .iter_mut()
            .find(|(bt, _, _)| *bt == t)
            .expect("every record type has a builder");
        match validator.check(t, row) {
            Ok(typed) => {
                builder.push(&typed);
                *stored += 1;
            }
            Err(rejects) => {
                assert!(!rejects.is_empty(), "a rejected row says why");
                rejects.iter().for_each(casework_fuzz::check_reject);
            }
        }
    }
    for (_, builder, stored) in &mut builders {
        let batch = builder
            .finish()
            .expect("rows that passed the checks always make a record batch");
        assert_eq!(batch.num_rows() as u64, *stored);
    }
});
