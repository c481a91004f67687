//! `harnessgym demo`: the fake agent on a scratch copy of the bundled numerical-debug task, so
//! the whole loop runs offline and the repository's files are never modified.

use std::process::ExitCode;

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::cli::DemoArgs;

const FILES: [(&str, &str); 3] = [
    ("task.md", include_str!("../../../examples/numerical-debug/task.md")),
    ("numerics.py", include_str!("../../../examples/numerical-debug/numerics.py")),
    ("verifier.py", include_str!("../../../examples/numerical-debug/verifier.py")),
];

pub async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => Utf8PathBuf::from(d),
        None => {
            let tmp = Utf8PathBuf::from_path_buf(std::env::temp_dir())
                .map_err(|p| anyhow::anyhow!("temp dir {} is not UTF-8", p.display()))?;
            tmp.join(format!("harnessgym-demo-{}", harnessgym_core::generate_run_id()))
        }
    };
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        anyhow::bail!("demo directory {dir} is not empty; pass an empty or new directory to --dir");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    for (name, text) in FILES {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {}", dir.join(name)))?;
    }
    eprintln!("Demo workspace: {dir}");
    let mut request = harnessgym_core::RunRequest {
        task: Some(dir.join("task.md").to_string()),
        workspace: dir.to_string(),
        ..Default::default()
    };
    request.options.iterations = args.iterations;
    request.options.runner = harnessgym_core::options::RunnerKind::Fake;
    crate::run(request).await
}
