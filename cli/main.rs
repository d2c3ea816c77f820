//! The `casework` command: parses arguments, calls the library, prints, sets the exit
//! code. `args` holds the argument types, `session` resolves them into the library's
//! inputs, `commands` has one module per command, `output` prints.

mod args;
mod commands;
mod output;
mod session;

use clap::Parser;

/// See Cargo.toml: mimalloc, for serve's many small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Rust ignores SIGPIPE, which turns a closed pipe (`casework … | head`) into a panic
    // on the next print; the default action ends the process quietly instead.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: called once at start-up, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // No transparent huge pages for this process: mimalloc's fresh memory then faults in
    // 4 KiB at a time instead of 2 MiB pages zeroed whole. `delay_intervals` at a million
    // cases: system time 0.4 to 1.1 s with them, a steady 0.2 to 0.3 s without; wall time
    // 1.97 s against 1.87 s (docs/benchmarks.md, "A bundle casework did not generate").
    // Linux only; elsewhere, and if refused, nothing changes.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes four integer arguments and touches no
    // memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // calamine panics on some malformed workbooks; the reader catches those and reports
    // the file as unreadable, so they print nothing here.
    casework::input::quiet_caught_reader_panics();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("casework: error: {}", e.chain());
            e.exit_code()
        }
    };
    std::process::exit(code);
}
