//! `wangge doc POLICY_DIR --out DIR`: a static HTML site of a policy set
//! for reviewers who do not read the language. An index; a page per item
//! (tables as tables with their hit policy, workflows as state diagrams
//! drawn here as SVG, ladders and ceilings, limits on their clocks,
//! calendars, subsidies and scorecards with their formulas); the
//! scenarios that mention an item as its examples; every file as a page
//! with numbered lines, which every item links to. No script, no network.

mod diagram;
mod render;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wangge_dsl::{render as render_diagnostics, SourceSet, Span};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy set: a directory of `.wg` files (scenarios included).
    #[arg(default_value = "policies")]
    dir: PathBuf,
    /// Where to write the site (created; its files are replaced).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &Args) -> ExitCode {
    let sources = match wangge_dsl::source::load_with_tests(&args.dir) {
        Ok(s) => s,
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let host = wangge_policy::RhaiHost::default();
    let compiled = wangge_policy::compile(sources, &host);
    if compiled.set.is_none() {
        eprint!(
            "{}",
            render_diagnostics(&compiled.diagnostics, &compiled.sources, crate::use_color())
        );
        eprintln!(
            "error: `{}` has errors; the documentation is written for a set that checks",
            args.dir.display()
        );
        return ExitCode::FAILURE;
    }
    let site = Site::new(&args.dir, &compiled.sources);
    match render::write_site(&site, &compiled.files, &args.out) {
        Ok(pages) => {
            println!("wrote {pages} page(s) to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write `{}`: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}

/// Names and links of the site's pages.
pub struct Site<'a> {
    pub sources: &'a SourceSet,
    /// Each file's path relative to the policy directory.
    pub names: Vec<String>,
}

impl<'a> Site<'a> {
    fn new(dir: &Path, sources: &'a SourceSet) -> Self {
        let names = sources
            .files
            .iter()
            .map(|f| {
                let p = Path::new(&f.name);
                p.strip_prefix(dir)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        Site { sources, names }
    }

    /// The page of a file's source, relative to the site's root.
    pub fn source_page(&self, file: u32) -> String {
        let name = self.names.get(file as usize).map_or("", String::as_str);
        format!("src/{name}.html")
    }

    /// A link to the line a span starts on, and its `file:line` text.
    pub fn line_link(&self, span: Span) -> (String, String) {
        let line = self
            .sources
            .get(span.file)
            .map_or(1, |f| f.line_col(span.start).line);
        let name = self
            .names
            .get(span.file as usize)
            .map_or("", String::as_str);
        (
            format!("{}#L{line}", self.source_page(span.file)),
            format!("{name}:{line}"),
        )
    }

    /// The source text of a span.
    pub fn text(&self, span: Span) -> &str {
        self.sources.text(span)
    }
}

/// The page of an item, relative to the site's root.
pub fn item_page(keyword: &str, name: &str) -> String {
    format!("{keyword}-{name}.html")
}
