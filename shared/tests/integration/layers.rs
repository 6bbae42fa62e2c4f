//! The library's shape, kept: no module imports one that imports it back (at every level of
//! the tree: the crate's top-level modules, and the children of each module among
//! themselves), and every module file opens with a `//!` line saying what it holds.
//!
//! Read from the source as text: a module depends on another where its code names a path
//! into it (`crate::…`, `super::…`, `self::…`, `use` groups included), following the
//! re-exports of `mod.rs` files to the module that defines the name. Unit tests (`tests`
//! modules) are left out: a test may reach anything it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of the crate (its path, `[]` for `lib.rs`) with its source.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|l| l == "mod" || l == "lib") {
                module.pop();
            }
            found.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// The source with comments, string literals and character literals blanked out, so that a
/// path in a doc comment or a message is not read as a dependency.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\''), or else a lifetime, kept.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The paths of one `use` tree, `{…}` groups expanded (`a::{b, c::{d, e}}` → `a::b`,
/// `a::c::d`, `a::c::e`; `self` in a group names the group's own path).
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let path = tree.split("as").next().unwrap_or(&tree);
        return vec![path.trim_end_matches("::").to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| match p {
            "self" => vec![prefix.trim_end_matches("::").to_owned()],
            _ => expand(&format!("{prefix}{p}")),
        })
        .collect()
}

/// The code without its `#[cfg(test)]` items (a `mod tests { … }`, with its braces matched).
fn without_tests(code: &str) -> String {
    let mut kept = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        rest = &rest[at..];
        let item_end = rest.find([';', '{']).unwrap_or(rest.len());
        if rest[item_end..].starts_with('{') {
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest.char_indices().skip(item_end) {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &rest[end..];
        } else {
            rest = &rest[(item_end + 1).min(rest.len())..];
        }
    }
    kept.push_str(rest);
    kept
}

/// Every path the code names that starts at `crate`, `super` or `self`.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = rest.find(';') {
            found.extend(expand(&rest[..end]));
        }
    }
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if (chars[i].is_alphabetic() || chars[i] == '_') && !ident_before(&chars, i) {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == ':')
            {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if ["crate::", "super::", "self::"]
                .iter()
                .any(|root| word.starts_with(root))
            {
                found.push(word.trim_end_matches(':').to_owned());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

/// Names a module re-exports (`pub use x::Y;`), each with the path it names.
fn reexports(module: &Module, code: &str) -> BTreeMap<String, Module> {
    let mut names = BTreeMap::new();
    let trees = ["pub use ", "pub(crate) use "]
        .into_iter()
        .flat_map(|keyword| {
            code.match_indices(keyword).filter_map(|(at, _)| {
                let tree = &code[at + keyword.len()..];
                Some(&tree[..tree.find(';')?])
            })
        });
    for tree in trees {
        for path in expand(tree) {
            let absolute = absolute(module, &path);
            if let Some(name) = absolute.last() {
                names.insert(name.clone(), absolute);
            }
        }
    }
    names
}

/// `path` as written in `module`, from the crate's root.
fn absolute(module: &Module, path: &str) -> Module {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Module = match segments.peek() {
        Some(&"crate") => {
            segments.next();
            Vec::new()
        }
        Some(&"super") | Some(&"self") => module.clone(),
        // A path into a child module (`use child::X` in a `mod.rs`).
        _ => module.clone(),
    };
    while let Some(&root @ ("super" | "self")) = segments.peek() {
        if root == "super" {
            base.pop();
        }
        segments.next();
    }
    base.extend(segments.map(str::to_owned));
    base
}

/// The module `path` leads into: its longest prefix that is a module, then on through that
/// module's re-exports.
fn target(path: &Module, known: &BTreeMap<Module, BTreeMap<String, Module>>) -> Module {
    let mut path = path.clone();
    for _ in 0..8 {
        let depth = (0..=path.len())
            .rev()
            .find(|k| known.contains_key(&path[..*k]))
            .unwrap_or(0);
        let module = path[..depth].to_vec();
        match path.get(depth).and_then(|name| known[&module].get(name)) {
            Some(reexported) if reexported != &path[..=depth] => {
                let mut next = reexported.clone();
                next.extend(path[depth + 1..].iter().cloned());
                path = next;
            }
            _ => return module,
        }
    }
    path
}

/// Dependencies between sibling modules: `a → b` where code under `a` names a path into
/// `b` and `a`, `b` are children of one parent. Parent and child never count (a `mod.rs`
/// declares its children, and they use what it holds).
fn sibling_edges(modules: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let code: BTreeMap<&Module, String> = modules
        .iter()
        .filter(|(m, _)| m.last().is_none_or(|name| name != "tests"))
        .map(|(m, s)| (m, without_tests(&code_only(s))))
        .collect();
    let known: BTreeMap<Module, BTreeMap<String, Module>> = code
        .iter()
        .map(|(m, c)| ((*m).clone(), reexports(m, c)))
        .collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, code) in &code {
        for path in paths(code) {
            let to = target(&absolute(module, &path), &known);
            let shared = module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if shared == module.len() || shared == to.len() {
                continue;
            }
            edges
                .entry(module[..=shared].to_vec())
                .or_default()
                .insert(to[..=shared].to_vec());
        }
    }
    edges
}

/// The strongly connected groups of more than one module (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<Module, usize>,
        low: BTreeMap<Module, usize>,
        stack: Vec<Module>,
        found: Vec<Vec<Module>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, node: &Module) {
            let n = self.index.len();
            self.index.insert(node.clone(), n);
            self.low.insert(node.clone(), n);
            self.stack.push(node.clone());
            for next in self.edges.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node.clone(), low);
                } else if self.stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node.clone(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(member) = self.stack.pop() {
                    let done = &member == node;
                    group.push(member);
                    if done {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    let nodes: BTreeSet<&Module> = edges.keys().chain(edges.values().flatten()).collect();
    for node in nodes {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

fn source_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges = sibling_edges(&modules(&source_root()));
    // The layers, printed for whoever runs this with `--nocapture`.
    for (from, to) in edges.iter().filter(|(from, _)| from.len() == 1) {
        let to: Vec<String> = to.iter().map(name).collect();
        println!("{} -> {}", name(from), to.join(", "));
    }
    let found = cycles(&edges);
    let described: Vec<String> = found
        .iter()
        .map(|group| group.iter().map(name).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(
        found.is_empty(),
        "modules that import each other, directly or around a circle: {described:#?}"
    );
    // The graph was read at all: the layers named in lib.rs are there, one way round.
    let top = |m: &str| vec![m.to_owned()];
    assert!(edges[&top("http")].contains(&top("workflows")));
    assert!(edges[&top("workflows")].contains(&top("store")));
    assert!(
        !edges
            .get(&top("store"))
            .is_some_and(|to| to.contains(&top("workflows")))
    );
}

#[test]
fn every_module_opens_with_a_line_saying_what_it_holds() {
    let missing: Vec<String> = modules(&source_root())
        .iter()
        .filter(|(_, source)| !source.starts_with("//!"))
        .map(|(module, _)| name(module))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` line: {missing:?}"
    );
}

#[test]
fn the_check_finds_a_circle_and_reads_paths_as_rust_does() {
    let file = |path: &str, text: &str| {
        let module: Module = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (module, text.to_owned())
    };
    let modules: BTreeMap<Module, String> = [
        file("", "//! crate\nmod a;\nmod b;\nmod c;\npub use c::Thing;"),
        file("a", "//! a\nuse crate::{b::{self, X}, c};\n"),
        // Through the crate root's re-export, and past a comment and a string naming `a`.
        file(
            "b",
            "//! b\n// crate::a::Y\nfn f() { let _ = \"crate::a\"; crate::Thing::new(); }",
        ),
        file("c", "//! c\nuse super::a::Z;\npub struct Thing;"),
        file("d", "//! d\nmod e;\nmod f;"),
        file(
            "d/e",
            "//! e\nuse super::f::G;\nuse super::*;\n#[cfg(test)]\nmod tests { use crate::a::Z; }",
        ),
        file("d/f", "//! f\npub struct G;\n#[cfg(test)]\nmod tests;"),
        file("d/f/tests", "//! tests\nuse crate::d::e::X;"),
    ]
    .into_iter()
    .collect();
    let edges = sibling_edges(&modules);
    let m = |s: &str| -> Module { s.split("::").map(str::to_owned).collect() };
    assert_eq!(edges[&m("a")], [m("b"), m("c")].into_iter().collect());
    assert_eq!(edges[&m("b")], [m("c")].into_iter().collect());
    // Tests reach where the code may not: `d::e`'s tests into `a`, `d::f`'s into `d::e`.
    assert_eq!(edges[&m("d::e")], [m("d::f")].into_iter().collect());
    assert!(!edges.contains_key(&m("d::f")));
    assert_eq!(cycles(&edges), vec![vec![m("a"), m("b"), m("c")]]);
}
