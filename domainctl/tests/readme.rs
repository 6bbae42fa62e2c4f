//! The shell blocks of the README and of every `docs/*.md` cannot drift from the code: every
//! command in them is checked (each `domainctl` command parses, each script, event file and
//! function exists, each variable is one something reads), and the DynamoDB Local, `cargo
//! lambda` and moto paths are run as written, against the servers the tests start in place
//! of the ones the documents start. Their relative links lead to files and headings that
//! exist.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use devservers::root;
use domainctl::cli::Cli;

/// A fenced `sh` block: the file and the heading it sits under, and its commands
/// (continuation lines joined, comments and blank lines dropped).
struct Block {
    file: String,
    section: String,
    commands: Vec<String>,
}

impl Block {
    /// Where `command` is, for a failure message.
    fn at(&self, command: &str) -> String {
        format!("{}, section {:?}: {command}", self.file, self.section)
    }
}

/// The documents whose shell blocks are checked: `README.md`, then every `docs/*.md`, as
/// paths relative to the repository's root.
fn documents() -> Vec<String> {
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    std::iter::once("README.md".to_owned())
        .chain(docs)
        .collect()
}

fn blocks() -> Vec<Block> {
    documents()
        .iter()
        .flat_map(|file| blocks_of(file))
        .collect()
}

/// The `sh` blocks of one document.
fn blocks_of(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with('#') {
            section = line.trim_start_matches('#').trim().to_owned();
        }
        if line.trim() != "```sh" {
            continue;
        }
        let mut commands = Vec::new();
        let mut pending = String::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let line = strip_comment(line);
            match line.strip_suffix('\\') {
                Some(head) => pending.push_str(head),
                None => {
                    pending.push_str(&line);
                    if !pending.trim().is_empty() {
                        commands.push(pending.trim().to_owned());
                    }
                    pending.clear();
                }
            }
        }
        blocks.push(Block {
            file: file.to_owned(),
            section: section.clone(),
            commands,
        });
    }
    blocks
}

/// The line without a trailing `# comment` (a `#` outside quotes after white space).
fn strip_comment(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => {
                return line[..i].trim_end().to_owned();
            }
            _ => {}
        }
        previous = c;
    }
    line.trim_end().to_owned()
}

/// One simple command: its variable assignments, words, and redirections.
#[derive(Debug, Default)]
struct Simple {
    vars: Vec<(String, String)>,
    words: Vec<String>,
    stdin: Option<String>,
    /// What `echo TEXT |` before it feeds it.
    piped: Option<String>,
    stdout: Option<String>,
}

fn parse(command: &str) -> Vec<Simple> {
    let mut simples: Vec<Simple> = Vec::new();
    for part in command.split("&&") {
        let mut echoed = None;
        for stage in part.split(" | ") {
            let mut simple = simple(stage, command);
            simple.piped = echoed.take();
            if simple.words.first().map(String::as_str) == Some("echo") {
                echoed = Some(simple.words[1..].join(" "));
            }
            simples.push(simple);
        }
    }
    simples
}

/// One stage of `command`: words, with assignments and redirections taken out.
fn simple(part: &str, command: &str) -> Simple {
    let words = shlex::split(part.trim().trim_end_matches('&'))
        .unwrap_or_else(|| panic!("documented command does not parse as shell: {command}"));
    let mut simple = Simple::default();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        if word == "export" && simple.words.is_empty() {
            continue;
        }
        if word == "<" {
            simple.stdin = words.next();
        } else if word == ">" {
            simple.stdout = words.next();
        } else if let (Some((name, value)), true) = (word.split_once('='), simple.words.is_empty())
        {
            simple.vars.push((name.to_owned(), value.to_owned()));
        } else {
            simple.words.push(word);
        }
    }
    simple
}

/// `cargo run -p domainctl -- ARGS`: the ARGS.
fn domainctl_args(simple: &Simple) -> Option<&[String]> {
    let words = &simple.words;
    (words.len() >= 5 && words[..5] == ["cargo", "run", "-p", "domainctl", "--"])
        .then(|| &words[5..])
}

/// Variables the documents may set: the AWS SDK's own, and those the code reads.
fn known_variable(name: &str) -> bool {
    const SDK: [&str; 5] = [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ];
    const SERVICES: [&str; 5] = ["DYNAMODB", "SESV2", "ROUTE_53", "EVENTBRIDGE", "KMS"];
    if SDK.contains(&name) {
        return true;
    }
    if let Some(service) = name.strip_prefix("AWS_ENDPOINT_URL_") {
        return SERVICES.contains(&service);
    }
    // Ours: named in the code that reads them, or in Schemathesis's settings.
    let quoted = format!("\"{name}\"");
    let in_code = ["shared/src", "domainctl/src"].iter().any(|dir| {
        files_under(&root().join(dir))
            .iter()
            .any(|file| std::fs::read_to_string(file).is_ok_and(|text| text.contains(&quoted)))
    });
    in_code
        || std::fs::read_to_string(root().join("schemathesis.toml"))
            .is_ok_and(|text| text.contains(&format!("${{{name}}}")))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_command_in_the_readme_matches_the_code() {
    let blocks = blocks();
    assert!(
        blocks.len() > 10,
        "the README's and docs' sh blocks were found"
    );
    let functions: Vec<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut domainctl_commands = 0;
    for block in &blocks {
        for command in &block.commands {
            for simple in parse(command) {
                let at = block.at(command);
                // The AWS SDK's and ours; others are the reader's own (`K`) or the
                // toolchain's (`RUSTC_BOOTSTRAP`).
                let checked = ["AWS_", "DOMAINS_", "DNS_", "SWEEP_"];
                for (name, _) in &simple.vars {
                    if checked.iter().any(|prefix| name.starts_with(prefix)) {
                        assert!(known_variable(name), "{at}: nothing reads {name}");
                    }
                }
                if let Some(args) = domainctl_args(&simple) {
                    domainctl_commands += 1;
                    let argv = std::iter::once("domainctl".to_owned()).chain(args.iter().cloned());
                    if let Err(e) = Cli::try_parse_from(argv) {
                        panic!("{at}: domainctl does not accept it:\n{e}");
                    }
                }
                for word in &simple.words {
                    if word.starts_with("scripts/") || word.starts_with("events/") {
                        let path = root().join(word);
                        assert!(path.is_file(), "{at}: {word} does not exist");
                    }
                }
                if simple
                    .words
                    .starts_with(&["cargo".into(), "lambda".into(), "invoke".into()])
                {
                    let function = &simple.words[3];
                    assert!(functions.contains(function), "{at}: no function {function}");
                }
            }
        }
    }
    assert!(
        domainctl_commands > 15,
        "{domainctl_commands} domainctl commands checked"
    );
}

/// The commands of the one block that contains `marker`, in whichever document holds it.
fn block_with(marker: &str) -> Vec<Simple> {
    let found: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.commands.iter().any(|c| c.contains(marker)))
        .collect();
    let [block] = found.as_slice() else {
        let places: Vec<String> = found
            .iter()
            .map(|b| format!("{}, section {:?}", b.file, b.section))
            .collect();
        panic!(
            "README.md and docs/*.md: {} blocks with {marker:?}, not one: {places:?}",
            found.len()
        );
    };
    block.commands.iter().flat_map(|c| parse(c)).collect()
}

/// Runs a document's commands in order, as a reader's shell would: assignments carry
/// over (`export` or a prefix), `cargo run -p domainctl --` runs the binary built for these
/// tests, `< file` and `> file` work in a scratch directory, and `serve` is started, asked
/// to register a domain (which must answer 201), and stopped.
struct Reader {
    env: HashMap<String, String>,
    dir: PathBuf,
    /// The documents' addresses and the ones of the servers these tests started.
    swaps: Vec<(String, String)>,
    served: usize,
}

impl Reader {
    fn new(swaps: Vec<(String, String)>) -> Self {
        let dir = std::env::temp_dir().join(format!("readme-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            env: HashMap::new(),
            dir,
            swaps,
            served: 0,
        }
    }

    fn swap(&self, text: &str) -> String {
        self.swaps
            .iter()
            .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
    }

    fn run(&mut self, simple: &Simple) {
        let vars: Vec<(String, String)> = simple
            .vars
            .iter()
            .map(|(name, value)| (name.clone(), self.swap(value)))
            .collect();
        let Some(args) = domainctl_args(simple) else {
            // `echo` feeds the next command; `cargo lambda` is not on the test machine
            // (its commands are checked above).
            let skipped = ["echo", "cargo lambda"];
            let line = simple.words.join(" ");
            assert!(
                simple.words.is_empty() || skipped.iter().any(|s| line.starts_with(s)),
                "documented command not expected here: {simple:?}"
            );
            if simple.words.is_empty() {
                self.env.extend(vars);
            }
            return;
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_domainctl"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(&self.env)
            .envs(vars)
            .current_dir(&self.dir);
        if args.first().map(String::as_str) == Some("serve") {
            self.serve(command, args);
            return;
        }
        command.args(args.iter().filter(|a| !a.contains('…')));
        if args.iter().any(|a| a.contains('…')) {
            // `keys revoke --id key_…`: the id of the key made above.
            let list = self.output(
                Command::new(env!("CARGO_BIN_EXE_domainctl"))
                    .envs(&self.env)
                    .args(["keys", "list", "--org", "org_a"]),
            );
            let id = list.split_whitespace().next().expect("a key id").to_owned();
            command.arg(id);
        }
        if let Some(text) = &simple.piped {
            let file = self.dir.join("piped");
            std::fs::write(&file, format!("{text}\n")).unwrap();
            command.stdin(std::fs::File::open(file).unwrap());
        } else {
            command.stdin(match &simple.stdin {
                Some(file) => std::fs::File::open(self.dir.join(file)).unwrap().into(),
                None => Stdio::null(),
            });
        }
        let stdout = self.output(&mut command);
        if let Some(file) = &simple.stdout {
            std::fs::write(self.dir.join(file), stdout).unwrap();
        }
    }

    fn output(&self, command: &mut Command) -> String {
        let output = command.current_dir(&self.dir).output().unwrap();
        assert!(
            output.status.success(),
            "documented command failed: {command:?}\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn serve(&mut self, mut command: Command, args: &[String]) {
        let port = devservers::free_port();
        let mut args = args.to_vec();
        match args.iter().position(|a| a == "--port") {
            Some(i) => args[i + 1] = port.to_string(),
            None => args.extend(["--port".into(), port.to_string()]),
        }
        let mut child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let banner = read_banner(&mut child);
        let key = banner
            .lines()
            .find_map(|l| l.strip_prefix("API key for org_local: "))
            .expect("serve printed a key")
            .to_owned();
        let url = format!("http://127.0.0.1:{port}/api/email/domains");
        let name = format!(
            "readme-{}.example",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let reply = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/stderr",
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                &url,
            ])
            .args(["-H", &format!("Authorization: Bearer {key}")])
            .args(["-d", &format!("{{\"domain\":\"{name}\"}}")])
            .output()
            .expect("curl");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            String::from_utf8_lossy(&reply.stdout),
            "201",
            "register through the documented server: {}\nbanner:\n{banner}",
            String::from_utf8_lossy(&reply.stderr)
        );
        self.served += 1;
    }
}

/// The server's standard output up to its `try:` line (it is listening by then), or a
/// failure with whatever it said instead.
fn read_banner(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut banner = String::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                banner.push_str(&line);
                banner.push('\n');
                if line.starts_with("try: ") {
                    return banner;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    panic!("serve did not start: {banner}{stderr}");
}

/// "Against DynamoDB" (docs/operations.md), as written, with testkit's DynamoDB Local where
/// the documented `scripts/dynamodb-local` listens.
#[test]
fn the_dynamodb_path_works_as_written() {
    let dynamo = testkit::dynamodb_local();
    let mut reader = Reader::new(vec![(
        "http://127.0.0.1:8000".into(),
        dynamo.endpoint.clone(),
    )]);
    for simple in block_with("domainctl -- table create") {
        reader.run(&simple);
    }
    for simple in block_with("keys revoke --id") {
        reader.run(&simple);
    }
    // "With cargo lambda": against the same table, with the sample events' key stored.
    for simple in block_with("cargo lambda watch") {
        reader.run(&simple);
    }
    let sample = reader.output(
        Command::new(env!("CARGO_BIN_EXE_domainctl"))
            .envs(&reader.env)
            .args(["keys", "list", "--org", "org_events"]),
    );
    assert!(
        sample.contains("active"),
        "the sample events' key: {sample}"
    );
    assert_eq!(reader.served, 1, "the block serves once");
    let keys = reader.output(
        Command::new(env!("CARGO_BIN_EXE_domainctl"))
            .envs(&reader.env)
            .args(["keys", "list", "--org", "org_a"]),
    );
    assert!(
        keys.contains("revoked"),
        "the documented revocation took: {keys}"
    );
}

/// The moto path of "SES identities and Route 53" (docs/operations.md), as written, with
/// testkit's moto where the document starts its own.
#[test]
fn the_moto_path_works_as_written() {
    let moto = testkit::moto();
    let mut reader = Reader::new(vec![(
        "http://127.0.0.1:5000".into(),
        moto.endpoint.clone(),
    )]);
    for simple in block_with("AWS_ENDPOINT_URL=http://127.0.0.1:5000") {
        reader.run(&simple);
    }
    assert_eq!(reader.served, 1, "the block serves once");
}

/// The README keeps the project's promise in view: one command runs the service locally,
/// one passes the tests.
#[test]
fn the_readme_shows_the_two_commands() {
    let commands: Vec<String> = blocks_of("README.md")
        .into_iter()
        .flat_map(|b| b.commands)
        .collect();
    for wanted in ["cargo run -p domainctl -- serve", "scripts/test"] {
        assert!(
            commands.iter().any(|c| c == wanted),
            "README.md: no sh block runs `{wanted}`"
        );
    }
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The headings of a Markdown text, outside fenced blocks.
fn headings(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(line.trim_start_matches('#').trim().to_owned());
        }
    }
    found
}

/// Every relative link of the README and the docs leads to a file that exists, and a
/// `#fragment` into a Markdown file to one of its headings.
#[test]
fn relative_links_lead_somewhere() {
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let dir = Path::new(&file)
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let mut fenced = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            if fenced {
                continue;
            }
            for (start, _) in line.match_indices("](") {
                let rest = &line[start + 2..];
                let Some(end) = rest.find(')') else { continue };
                let target = &rest[..end];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
                let linked = if path.is_empty() {
                    PathBuf::from(&file)
                } else {
                    dir.join(path)
                };
                let at = format!("{file}: link ({target})");
                let full = root().join(&linked);
                assert!(full.exists(), "{at}: {} does not exist", linked.display());
                if !fragment.is_empty() && linked.extension().is_some_and(|e| e == "md") {
                    let anchors: Vec<String> = headings(&std::fs::read_to_string(&full).unwrap())
                        .iter()
                        .map(|h| slug(h))
                        .collect();
                    assert!(
                        anchors.iter().any(|a| a == fragment),
                        "{at}: no heading #{fragment} in {}",
                        linked.display()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "{checked} links checked");
}
