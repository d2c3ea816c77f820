//! The `casework` command: parses arguments, calls the library, prints, sets the exit code.

mod app;
mod output;

fn main() {
    // Rust ignores SIGPIPE, which turns a closed pipe (`casework … | head`) into a panic
    // on the next print; the default action ends the process quietly instead.
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // calamine panics on some malformed workbooks; the reader catches those and reports
    // the file as unreadable, so they print nothing here.
    casework::input::quiet_caught_reader_panics();
    std::process::exit(app::main());
}
