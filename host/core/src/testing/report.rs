//! What `wtb test` reports: a result per case, and the JUnit XML CI systems read. Pure.

use crate::markup::escape;
use crate::model::ExecutionId;
use serde::Serialize;
use std::fmt::Write as _;

/// One case's result.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// The execution it ran as (inspect it with `wtb show` / `wtb diff`); `None` when it
    /// could not start.
    pub execution: Option<ExecutionId>,
    /// Whether every expectation held.
    pub passed: bool,
    /// What did not hold, one entry per expectation.
    pub failures: Vec<String>,
    /// How long it took, seconds.
    pub seconds: f64,
}

/// One test file's results.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FileResult {
    /// The file as given.
    pub file: String,
    /// Its cases, in file order.
    pub cases: Vec<CaseResult>,
}

/// The results as JUnit XML: a `<testsuite>` per file, a `<testcase>` per case, a `<failure>`
/// holding every unmet expectation.
pub fn junit_xml(files: &[FileResult]) -> String {
    let count = |f: &FileResult| (f.cases.len(), f.cases.iter().filter(|c| !c.passed).count());
    let (tests, failures) = files.iter().map(count).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"wtb test\" tests=\"{tests}\" failures=\"{failures}\">");
    for f in files {
        let (tests, failures) = count(f);
        let seconds: f64 = f.cases.iter().map(|c| c.seconds).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" time=\"{seconds:.3}\">",
            escape(&f.file)
        );
        for c in &f.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&c.name),
                escape(&f.file),
                c.seconds
            );
            if c.passed {
                out.push_str("/>\n");
                continue;
            }
            let first = c.failures.first().map_or("", |l| l.lines().next().unwrap_or(""));
            let mut body = c.failures.join("\n");
            if let Some(id) = c.execution {
                let _ = write!(body, "\nexecution {id}: wtb show {id}");
            }
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                escape(first),
                escape(&body)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_names_each_case_and_escapes_what_xml_cannot_hold() {
        let id: ExecutionId = "01930000-0000-7000-8000-000000000001".parse().unwrap();
        let files = [FileResult {
            file: "a&b.test.toml".into(),
            cases: vec![
                CaseResult {
                    name: "ok".into(),
                    execution: Some(id),
                    passed: true,
                    failures: vec![],
                    seconds: 0.5,
                },
                CaseResult {
                    name: "<bad>".into(),
                    execution: Some(id),
                    passed: false,
                    failures: vec!["state /x: expected \"1\", got 2".into(), "bell \u{7}".into()],
                    seconds: 0.25,
                },
            ],
        }];
        let xml = junit_xml(&files);
        assert!(xml.contains("<testsuites name=\"wtb test\" tests=\"2\" failures=\"1\">"), "{xml}");
        assert!(
            xml.contains("<testsuite name=\"a&amp;b.test.toml\" tests=\"2\" failures=\"1\" time=\"0.750\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"ok\" classname=\"a&amp;b.test.toml\" time=\"0.500\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"state /x: expected &quot;1&quot;, got 2\">"), "{xml}");
        assert!(
            xml.contains("bell \u{fffd}\nexecution 01930000-0000-7000-8000-000000000001: wtb show"),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"&lt;bad&gt;\""), "{xml}");
    }
}
