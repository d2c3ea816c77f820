//! The resolved session: arguments turned into what the library takes (the warehouse,
//! the code list and thresholds in force, the scope, the engine, ingest options).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use casework::Error;
use casework::engine::{self, DateField, Engine, Scope};
use casework::ingest::Options;
use casework::input::limits::Limits;
use casework::measures;
use casework::publication::{Publishing, View};
use casework::report;
use casework::spec::study::StudyFile;
use casework::spec::{CodeList, RecordType, Thresholds};
use casework::warehouse::Warehouse;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{CheckArgs, ConfigArgs, DateFieldArg, EngineArg, ReportOpts, SessionArgs};

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Runtime::new().map_err(Error::Runtime)
}

/// What the measure, query, chart and report commands run over.
pub(crate) struct Session {
    pub(crate) warehouse: Warehouse,
    /// Whether --date-field was given (else, with --publish, the study's is used).
    pub(crate) date_field_given: bool,
    pub(crate) scope: Scope,
    pub(crate) codes: CodeList,
    pub(crate) thresholds: Thresholds,
    pub(crate) as_of: NaiveDate,
    pub(crate) memory_limit: usize,
    pub(crate) engine: Engine,
    pub(crate) study: StudyFile,
}

impl Session {
    pub(crate) fn from_args(args: &SessionArgs) -> Result<Session, Error> {
        let (mut codes, mut thresholds, mut study) = args.config.load()?;
        // Without --study, --codes or --thresholds, the warehouse's data is read with the
        // code list, thresholds and study it was ingested with.
        let warehouse = Warehouse::locate(&args.warehouse.warehouse)?;
        let (stored_codes, stored_thresholds) = warehouse.stored_config()?;
        let chosen = args.config.study.is_some();
        if let (None, false, Some(c)) = (&args.config.codes, chosen, stored_codes) {
            codes = c;
        }
        if let (None, false, Some(t)) = (&args.config.thresholds, chosen, stored_thresholds) {
            thresholds = t;
        }
        if !chosen {
            study = match warehouse.stored_study(&codes)? {
                Some(s) => s,
                None => StudyFile::for_code_list(&codes),
            };
        }
        let period = args
            .period
            .as_deref()
            .map(casework::spec::grid::Period::parse)
            .transpose()
            .map_err(|e| Error::Usage(format!("--period: {e}")))?;
        if let Some(stage) = &args.stage
            && !casework::spec::STAGES.contains(&stage.as_str())
        {
            return Err(Error::Usage(format!(
                "--stage: {stage:?} is not a stage of the bundle; its stages are: {}",
                casework::spec::STAGES.join(", ")
            )));
        }
        let scope = Scope {
            from: args.from,
            to: args.to,
            period,
            date_field: match args.date_field {
                None | Some(DateFieldArg::OpenedDate) => DateField::OpenedDate,
                Some(DateFieldArg::ClosedDate) => DateField::ClosedDate,
            },
            organisation: args.organisation.clone(),
            region: args.region.clone(),
            source: args.source.clone(),
            decision: args.decision.clone(),
            service: args.service.clone(),
            stage: args.stage.clone(),
            choices: Vec::new(),
        };
        Ok(Session {
            warehouse,
            date_field_given: args.date_field.is_some(),
            scope,
            codes,
            thresholds,
            as_of: args
                .as_of
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
            memory_limit: args.memory_limit,
            study,
            engine: match (args.engine, &args.scheduler) {
                (EngineArg::Local, None) => Engine::Local,
                (EngineArg::Local, Some(_)) => {
                    return Err(Error::Usage("--scheduler is for --engine ballista".into()));
                }
                (EngineArg::Ballista, scheduler) => Engine::Ballista {
                    scheduler: scheduler.clone(),
                },
            },
        })
    }

    pub(crate) fn inputs(&self) -> engine::Inputs<'_> {
        engine::Inputs {
            warehouse: &self.warehouse,
            codes: &self.codes,
            thresholds: &self.thresholds,
            scope: &self.scope,
            as_of: self.as_of,
            memory_limit: self.memory_limit,
            pool: None,
            engine: &self.engine,
            study: &self.study,
        }
    }

    /// For `--publish`: the warehouse's publication (the audited set of its committed
    /// version, built here) read at the session's view. The scope must be a view the publication has;
    /// it becomes that view's own scope. `None` unless `publish` (`--publish` was given).
    pub(crate) async fn publishing_if(
        &mut self,
        publish: bool,
    ) -> Result<Option<Publishing>, Error> {
        if !publish {
            return Ok(None);
        }
        let settings = self.study.publication.clone();
        if !self.date_field_given {
            self.scope.date_field = settings.date_field;
        }
        let view = View::of(&self.scope, &settings)
            .map_err(|e| Error::Usage(format!("--publish: {e}")))?;
        let publication = casework::publication::build(&self.inputs(), &settings).await?;
        self.scope = view.scope(&settings);
        Ok(Some(Publishing::new(
            std::sync::Arc::new(publication),
            view,
        )))
    }

    pub(crate) fn context<'a>(&'a self, queries: Option<&'a Path>) -> measures::Context<'a> {
        measures::Context {
            scope: &self.scope,
            codes: &self.codes,
            thresholds: &self.thresholds,
            as_of: self.as_of,
            queries,
        }
    }
}

pub(crate) fn report_options(
    r: &ReportOpts,
    out: PathBuf,
    study: &StudyFile,
    publish: Option<Publishing>,
) -> Result<report::Options, Error> {
    let period = |p: &Option<String>| -> Result<Option<report::Period>, Error> {
        p.as_deref()
            .map(report::Period::parse)
            .transpose()
            .map_err(Error::Usage)
    };
    let comparison = match (period(&r.baseline)?, period(&r.current)?) {
        (Some(b), Some(c)) => Some((b, c)),
        _ => None,
    };
    Ok(report::Options {
        out,
        title: r.title.clone().unwrap_or_else(|| study.title.clone()),
        publish,
        lists: true,
        comparison,
        tracker: r.tracker.clone(),
        serve_url: r.serve_url.clone(),
        given: Vec::new(),
    })
}

pub(crate) fn use_mapping(
    options: &mut Options,
    mapping: Option<&Path>,
    config: &ConfigArgs,
) -> Result<(), Error> {
    let Some(path) = mapping else { return Ok(()) };
    let mapping = casework::mapping::Mapping::load(path)?;
    if let (None, Some(name)) = (&config.study, &mapping.study) {
        // The study's files, unless the mapping's own or the options replace them.
        let study = casework::spec::study::Study::load(Some(name))?;
        if config.codes.is_none() {
            options.codes = match &mapping.codes {
                Some(codes) => CodeList::load(Some(codes))?,
                None => study.codes.clone(),
            };
        }
        if config.thresholds.is_none() {
            options.thresholds = match &mapping.thresholds {
                Some(t) => Thresholds::load(Some(t))?,
                None => study.thresholds.clone(),
            };
        }
        study
            .file
            .check(&options.codes, &study.source.text)
            .map_err(|message| Error::Config {
                file: study.name.clone().into(),
                message,
            })?;
        options.study = study.file;
        options.mapping = Some(mapping);
        return Ok(());
    }
    if let (None, None, Some(codes)) = (&config.codes, &config.study, &mapping.codes) {
        options.codes = CodeList::load(Some(codes))?;
        options.study = StudyFile::for_code_list(&options.codes);
    }
    if let (None, None, Some(t)) = (&config.thresholds, &config.study, &mapping.thresholds) {
        options.thresholds = Thresholds::load(Some(t))?;
    }
    options.mapping = Some(mapping);
    Ok(())
}

pub(crate) fn options(args: &CheckArgs, warehouse: Option<PathBuf>) -> Result<Options, Error> {
    let mut options = Options::new(warehouse);
    (options.codes, options.thresholds, options.study) = args.config.load()?;
    use_mapping(&mut options, args.mapping.as_deref(), &args.config)?;
    // A dry run (--show) writes nothing at all: no rejects file, no warehouse.
    options.rejects_file = (args.show == 0).then(|| args.rejects.clone());
    options.limits = Limits {
        max_line_bytes: args.max_line_bytes,
        max_field_bytes: args.max_field_bytes,
        max_rows: args.max_rows,
        max_xlsx_bytes: args.max_xlsx_bytes,
    };
    options.show = args.show;
    options.time_zone = match &args.time_zone {
        None => None,
        Some(name) => Some(name.parse::<chrono_tz::Tz>().map_err(|_| {
            Error::Usage(format!(
                "--time-zone {name:?}: not a time zone name; write an IANA name such as Europe/London or UTC"
            ))
        })?),
    };
    if !args.quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        options.progress = Box::new(move |t: RecordType, rows: u64| {
            bar.set_message(format!("{t}: {rows} rows read"));
            bar.tick();
        });
    }
    Ok(options)
}
