//! The one switch for these tests: which PostgreSQL server to use, or a loud skip.

use std::io::Write;

/// The server URL from `PALAVER_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`;
/// each test creates and drops a database of its own there). Unset or empty, the calling test
/// prints a loud notice and passes, unless `PALAVER_TEST_STRICT=1`, which makes it fail.
pub fn postgres_url() -> Option<String> {
    const VAR: &str = "PALAVER_TEST_POSTGRES_URL";
    match std::env::var(VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("PALAVER_TEST_STRICT").as_deref() == Ok("1") => {
            panic!("{VAR} is required under PALAVER_TEST_STRICT")
        }
        _ => {
            static NOTICE: std::sync::Once = std::sync::Once::new();
            // Straight to the stderr handle: the test harness captures `eprintln!` of passing
            // tests, and this notice must be seen.
            NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!!!! SKIPPED: {VAR} is not set, so the PostgreSQL tests did NOT run. \
                     Set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run them; \
                     PALAVER_TEST_STRICT=1 turns this skip into a failure. !!!!!\n"
                );
            });
            None
        }
    }
}
