//! The import layering of `src/`: imports point down only.
//!
//! Every file in `src/` sits on one floor, and a file may use only what is on its own floor or below:
//!
//! ground → domain → store → events → actions → views → web/live → pages → routes → app
//!
//! so the rules of the game (domain) never learn about SQL (store), the store never learns about
//! HTML (web), and a page handler (routes) can be read without chasing another page's handler.
//! This test reads the source as text (no extra dependencies) and checks that
//!
//! 1. every import (`crate::…` or `super::…`, on a `use` line or inline) points to the same floor or lower;
//! 2. no files import each other in a cycle, on any floor;
//! 3. a routes file never imports another routes file (what they share moves down a floor);
//! 4. the ground floor imports only other ground-floor files.
//!
//! Comments, string literals and a trailing `#[cfg(test)] mod tests` are not imports. See docs/architecture.md.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;

/// The floors, lowest first: a file's rank is the index of its floor. When you add a kind of file, add it
/// here. Patterns: a plain path is that file, `src/*/store.rs` is the file in any one feature directory,
/// `src/web/**` is anything under that directory. When several patterns match, the most specific wins
/// (a plain path, then `**`, then `*`), so `src/web/mod.rs` is on the web floor, not the domain floor.
#[rustfmt::skip]
const LAYERS: &[(&str, &[&str])] = &[
    ("ground",  &["src/config.rs", "src/db.rs", "src/error.rs", "src/form.rs", "src/tz.rs", "src/markdown.rs",
                  "src/ids.rs", "src/state.rs", "src/hub.rs", "src/secrets.rs", "src/oidc.rs"]),
    ("domain",  &["src/*/mod.rs", "src/*/timings.rs", "src/*/gate.rs", "src/*/two_factor.rs",
                  "src/chaostoolkit/experiment.rs", "src/chaostoolkit/export.rs", "src/chaostoolkit/journal.rs",
                  "src/chaostoolkit/probes.rs"]),
    ("store",   &["src/*/store.rs", "src/*/store/*"]),
    ("events",  &["src/events.rs"]),
    ("actions", &["src/*/actions.rs", "src/*/worker.rs", "src/healthchecks/probe.rs"]),
    ("views",   &["src/*/views.rs", "src/*/export.rs"]),
    ("web",     &["src/web/**", "src/live.rs"]),
    ("pages",   &["src/*/pages.rs"]),
    ("routes",  &["src/*/routes.rs", "src/*/api.rs", "src/*/invites.rs", "src/*/settings.rs", "src/home.rs"]),
    ("top",     &["src/app.rs", "src/main.rs", "src/lib.rs"]),
];

#[test]
fn src_imports_point_down_only() {
    let problems = check(&read_src(Path::new(env!("CARGO_MANIFEST_DIR"))));
    assert!(
        problems.is_empty(),
        "{} import layering problem(s) in src/ (see docs/architecture.md):\n{}\n",
        problems.len(),
        problems.join("\n")
    );
}

/// Checks a set of `(path relative to the crate root, source)` files; returns one line per problem.
fn check(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let layers: Vec<Option<usize>> = files.iter().map(|(path, _)| layer_of(path)).collect();
    for ((path, _), layer) in files.iter().zip(&layers) {
        if layer.is_none() {
            problems.push(format!(
                "{path} has no layer: name it by its layer (mod, store, actions, views, routes) \
                 or add it to the table in tests/layers.rs"
            ));
        }
    }

    // main.rs is a crate root of its own: it reaches the library as `gameday::`, never `crate::`.
    let modules: HashMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, (path, _))| path != "src/main.rs")
        .filter_map(|(i, (path, _))| Some((module_path(path)?, i)))
        .collect();
    let mut edges: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for (i, (path, source)) in files.iter().enumerate() {
        for segments in imports(&code_only(without_test_module(source))) {
            if let Some(j) = resolve(&modules, path, &segments)
                && j != i
            {
                edges.entry((i, j)).or_default().insert(segments.join("::"));
            }
        }
    }

    for (&(i, j), names) in &edges {
        let (Some(from), Some(to)) = (layers[i], layers[j]) else { continue };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let what = format!(
            "{} ({}) imports {} ({}) via {}",
            files[i].0,
            LAYERS[from].0,
            files[j].0,
            LAYERS[to].0,
            names.join(", ")
        );
        if from == 0 && to > 0 {
            problems.push(format!("{what}: the ground floor imports only other ground-floor files"));
        } else if to > from {
            problems.push(format!("{what}: imports point down only"));
        } else if LAYERS[from].0 == "routes" && LAYERS[to].0 == "routes" {
            problems.push(format!("{what}: a routes file never imports another; move what they share down a floor"));
        }
    }

    // Cycles: files that reach each other form one knot; name the shortest loop through it.
    let mut graph = vec![Vec::new(); files.len()];
    for &(i, j) in edges.keys() {
        graph[i].push(j);
    }
    let reach: Vec<Vec<bool>> = (0..files.len()).map(|i| reachable(&graph, i)).collect();
    let mut done = vec![false; files.len()];
    for start in 0..files.len() {
        if done[start] || !reach[start][start] {
            continue;
        }
        let knot: Vec<usize> = (0..files.len()).filter(|&j| reach[start][j] && reach[j][start]).collect();
        let cycle = shortest_cycle(&graph, start);
        let mut line = format!("import cycle: {}", files[start].0);
        for (k, &from) in cycle.iter().enumerate() {
            let to = cycle.get(k + 1).copied().unwrap_or(start);
            let name = edges[&(from, to)].first().expect("an edge has a name");
            line += &format!(" -> {} ({name})", files[to].0);
        }
        let others: Vec<&str> = knot.iter().filter(|j| !cycle.contains(j)).map(|&j| files[j].0.as_str()).collect();
        if !others.is_empty() {
            line += &format!("; the same knot holds {}", others.join(", "));
        }
        problems.push(line + ": move what they share down a floor");
        for j in knot {
            done[j] = true;
        }
    }
    problems
}

/// The floor of a file (an index into `LAYERS`), if the table places it.
fn layer_of(path: &str) -> Option<usize> {
    let specificity = |pattern: &str| -> Option<u8> {
        if let Some(dir) = pattern.strip_suffix("**") {
            return path.starts_with(dir).then_some(1);
        }
        let (p, f): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
        let fits = p.len() == f.len() && p.iter().zip(&f).all(|(p, f)| p == f || *p == "*");
        fits.then_some(if pattern.contains('*') { 0 } else { 2 })
    };
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(rank, (_, patterns))| patterns.iter().filter_map(move |p| Some((specificity(p)?, rank))))
        .max()
        .map(|(_, rank)| rank)
}

/// The module a file defines: `src/a/mod.rs` and `src/a.rs` are `[a]`, `src/a/b.rs` is `[a, b]`, lib.rs is `[]`.
fn module_path(path: &str) -> Option<Vec<String>> {
    let mut segments: Vec<String> =
        path.strip_prefix("src/")?.strip_suffix(".rs")?.split('/').map(Into::into).collect();
    if segments.last().is_some_and(|s| s == "mod") || segments == ["lib"] || segments == ["main"] {
        segments.pop();
    }
    Some(segments)
}

/// The file that defines `crate::…` / `super::…` as seen from `from`: the longest prefix naming a file.
fn resolve(modules: &HashMap<Vec<String>, usize>, from: &str, segments: &[String]) -> Option<usize> {
    let (mut full, rest) = match segments.first()?.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        _ => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let mut base = module_path(from)?;
            base.truncate(base.len().checked_sub(ups)?);
            (base, &segments[ups..])
        }
    };
    full.extend(rest.iter().cloned());
    (0..=full.len()).rev().find_map(|k| modules.get(&full[..k]).copied())
}

/// The source without a trailing unit-test module: everything from a `#[cfg(test)]` line followed by `mod tests`.
fn without_test_module(source: &str) -> &str {
    let mut offset = 0;
    let mut lines = source.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let next = lines.peek().map(|l| l.trim_start());
        if line.trim() == "#[cfg(test)]" && next.is_some_and(|l| l.starts_with("mod tests")) {
            return &source[..offset];
        }
        offset += line.len();
    }
    source
}

/// The code with comments and the contents of string and char literals blanked out.
fn code_only(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                match (c[i], at(i + 1)) {
                    ('/', '*') => (depth, i) = (depth + 1, i + 2),
                    ('*', '/') => (depth, i) = (depth - 1, i + 2),
                    _ => i += 1,
                }
                if depth == 0 {
                    break;
                }
            }
            out.push(' ');
            continue;
        } else if c[i] == '"' {
            // A raw string `r#"…"#` ends at a quote followed by as many hashes as it started with.
            let hashes = c[..i].iter().rev().take_while(|&&ch| ch == '#').count();
            let raw = i > hashes && c[i - hashes - 1] == 'r';
            let hashes = if raw { hashes } else { 0 };
            i += 1;
            while i < c.len() {
                if !raw && c[i] == '\\' {
                    i += 2;
                } else if c[i] == '"' && (i + 1..=i + hashes).all(|k| at(k) == '#') {
                    i += hashes + 1;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push_str("\"\"");
            continue;
        } else if c[i] == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal (`'"'`, `'\''`), not a lifetime (`'a`): skip past the (escaped) char to the quote.
            i += 2 + usize::from(at(i + 1) == '\\');
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// Every path starting `crate::` or `super::` in the code, with `use` groups expanded:
/// `use crate::a::{b::{C, self}, d as e};` gives `crate::a::b::C`, `crate::a::b`, `crate::a::d`.
fn imports(code: &str) -> Vec<Vec<String>> {
    let mut tokens: Vec<&str> = Vec::new();
    let mut rest = code.trim_start();
    while let Some(ch) = rest.chars().next() {
        let len = match ch {
            ':' if rest.starts_with("::") => 2,
            c if c.is_alphanumeric() || c == '_' => {
                rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len())
            }
            c => c.len_utf8(),
        };
        tokens.push(&rest[..len]);
        rest = rest[len..].trim_start();
    }
    let mut paths = Vec::new();
    let mut t = 0;
    while t < tokens.len() {
        let starts = matches!(tokens[t], "crate" | "super") && tokens.get(t + 1) == Some(&"::");
        if starts && (t == 0 || tokens[t - 1] != "::") {
            t = use_tree(&tokens, t, Vec::new(), &mut paths);
        } else {
            t += 1;
        }
    }
    paths
}

/// Reads one path (or `{…}` group of paths) below `path`, starting at `tokens[t]`; returns where it stopped.
/// A glob `*` counts as importing the module itself.
fn use_tree(tokens: &[&str], mut t: usize, mut path: Vec<String>, paths: &mut Vec<Vec<String>>) -> usize {
    while let Some(&token) = tokens.get(t) {
        if token == "{" {
            t += 1;
            while let Some(&token) = tokens.get(t)
                && token != "}"
            {
                let next = if token == "," { t + 1 } else { use_tree(tokens, t, path.clone(), paths) };
                if next == t {
                    return t; // not a path after all
                }
                t = next;
            }
            return t + 1;
        }
        if token == "*" {
            t += 1;
            break;
        }
        if !token.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            break;
        }
        if token != "self" {
            path.push(token.to_string());
        }
        t += 1;
        match tokens.get(t) {
            Some(&"::") => t += 1,
            Some(&"as") => {
                t += 2;
                break;
            }
            _ => break,
        }
    }
    paths.push(path);
    t
}

/// Which files `start` reaches through one or more imports.
fn reachable(graph: &[Vec<usize>], start: usize) -> Vec<bool> {
    let mut seen = vec![false; graph.len()];
    let mut queue: VecDeque<usize> = graph[start].iter().copied().collect();
    while let Some(node) = queue.pop_front() {
        if !seen[node] {
            seen[node] = true;
            queue.extend(&graph[node]);
        }
    }
    seen
}

/// The files on a shortest import loop from `start` back to itself, `start` first.
fn shortest_cycle(graph: &[Vec<usize>], start: usize) -> Vec<usize> {
    let mut parent: Vec<Option<usize>> = vec![None; graph.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in &graph[node] {
            if next == start {
                let mut cycle = vec![node];
                while let Some(p) = parent[*cycle.last().expect("not empty")] {
                    cycle.push(p);
                }
                cycle.reverse();
                return cycle;
            }
            if parent[next].is_none() && next != start {
                parent[next] = Some(node);
                queue.push_back(next);
            }
        }
    }
    vec![start]
}

/// Every `.rs` file under `root/src`, as `(path relative to root, source)`.
fn read_src(root: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("read src/").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(root).expect("under root").components();
                let name: Vec<_> = name.map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                files.push((name.join("/"), std::fs::read_to_string(&path).expect("read a source file")));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &root.join("src"), &mut files);
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_set(files: &[(&str, &str)]) -> Vec<String> {
        check(&files.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect::<Vec<_>>())
    }

    const WEB: (&str, &str) = ("src/web/mod.rs", "pub struct Layout;\npub fn render() {}\n");

    #[test]
    fn a_store_or_domain_importing_web_is_reported() {
        let problems = check_set(&[
            WEB,
            ("src/lib.rs", "pub mod gamedays;\npub mod web;\n"),
            ("src/gamedays/mod.rs", "use super::web::render; // in a mod.rs, super:: is crate::\n"),
            ("src/gamedays/store.rs", "use crate::web::Layout;\n"),
        ]);
        assert_eq!(
            problems,
            [
                "src/gamedays/mod.rs (domain) imports src/web/mod.rs (web) via super::web::render: imports point down only",
                "src/gamedays/store.rs (store) imports src/web/mod.rs (web) via crate::web::Layout: imports point down only",
            ]
        );
    }

    #[test]
    fn a_routes_file_importing_another_features_routes_is_reported() {
        let problems = check_set(&[
            ("src/teams/routes.rs", "pub fn membership_or_404() {}\n"),
            ("src/gamedays/routes.rs", "use crate::teams::routes::membership_or_404;\n"),
        ]);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("src/gamedays/routes.rs (routes) imports src/teams/routes.rs (routes)"));
        assert!(problems[0].contains("a routes file never imports another"));
    }

    #[test]
    fn a_two_file_cycle_on_one_floor_is_reported() {
        let problems = check_set(&[
            ("src/a/store.rs", "use crate::b::store::B;\npub struct A;\n"),
            ("src/b/store.rs", "pub struct B(crate::a::store::A);\n"),
        ]);
        assert_eq!(
            problems,
            ["import cycle: src/a/store.rs -> src/b/store.rs (crate::b::store::B) -> src/a/store.rs \
              (crate::a::store::A): move what they share down a floor"]
        );
    }

    #[test]
    fn an_inline_path_is_an_import() {
        let problems = check_set(&[WEB, ("src/gamedays/store.rs", "fn f() {\n    crate::web::render();\n}\n")]);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("via crate::web::render: imports point down only"));
    }

    #[test]
    fn grouped_and_multi_line_imports_are_expanded() {
        let source = "use crate::{\n    tz::format_utc,\n    web::{\n        Layout,\n        render,\n    },\n};\n";
        let problems = check_set(&[WEB, ("src/tz.rs", ""), ("src/gamedays/store.rs", source)]);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("via crate::web::Layout, crate::web::render: imports"));

        let names = |code: &str| imports(code).into_iter().map(|p| p.join("::")).collect::<Vec<_>>();
        assert_eq!(names("use crate::a::{b::{C, D}, e::*};"), ["crate::a::b::C", "crate::a::b::D", "crate::a::e"]);
        assert_eq!(names("crate::tz::parse::<T>(x); super::super::f()"), ["crate::tz::parse", "super::super::f"]);
        assert_eq!(
            names("use super::{store::{self as s, P}, Role};\nuse crate::gamedays::{self, GamedayRole};"),
            ["super::store", "super::store::P", "super::Role", "crate::gamedays", "crate::gamedays::GamedayRole"]
        );
    }

    #[test]
    fn comments_strings_and_the_test_module_are_not_imports() {
        let source = r####"//! Talks to crate::web::render, but only in prose.
/// See [`crate::web::Layout`].
// use crate::web::Layout;
/* crate::web::render() /* nested */ crate::web::Layout */
const QUOTES: [char; 2] = ['"', '\''];
const S: &str = "crate::web::render \" crate::web::Layout";
const R: &str = r#"crate::web::"render""#;
pub fn f<'a>(s: &'a str) -> &'a str { s }

#[cfg(test)]
mod tests {
    use crate::web::render;
}
"####;
        assert_eq!(check_set(&[WEB, ("src/gamedays/store.rs", source)]), Vec::<String>::new());
        assert_eq!(code_only(without_test_module(source)).matches("crate").count(), 0);
    }

    #[test]
    fn a_clean_layered_set_reports_nothing() {
        let problems = check_set(&[
            ("src/lib.rs", "pub mod app;\npub mod gamedays;\npub mod tz;\npub mod web;\n"),
            ("src/main.rs", "use gameday::app::serve;\n"),
            ("src/tz.rs", "pub fn format_utc() {}\n"),
            ("src/gamedays/mod.rs", "pub mod routes;\npub mod store;\npub struct Gameday;\n"),
            ("src/gamedays/store.rs", "use super::Gameday;\nfn f() { crate::tz::format_utc() }\n"),
            ("src/gamedays/actions.rs", "use super::{Gameday, store};\n"),
            ("src/web/mod.rs", "pub mod context;\nuse crate::gamedays::store;\n"),
            ("src/web/context.rs", "use super::Layout;\nuse crate::gamedays::Gameday;\n"),
            (
                "src/gamedays/routes.rs",
                "use super::{actions, store::{self, X}};\nuse crate::web::{Layout, context::Ctx};\n",
            ),
            ("src/app.rs", "use crate::{gamedays::routes, web};\n"),
        ]);
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn an_unplaced_file_is_reported() {
        assert_eq!(
            check_set(&[("src/x/foo.rs", "")]),
            ["src/x/foo.rs has no layer: name it by its layer (mod, store, actions, views, routes) \
              or add it to the table in tests/layers.rs"]
        );
    }

    #[test]
    fn the_ground_floor_imports_only_the_ground_floor() {
        assert_eq!(check_set(&[("src/tz.rs", "use crate::form::f;\n"), ("src/form.rs", "")]), Vec::<String>::new());
        assert_eq!(
            check_set(&[("src/form.rs", "use crate::gamedays::G;\n"), ("src/gamedays/mod.rs", "")]),
            ["src/form.rs (ground) imports src/gamedays/mod.rs (domain) via crate::gamedays::G: \
              the ground floor imports only other ground-floor files"]
        );
    }
}
