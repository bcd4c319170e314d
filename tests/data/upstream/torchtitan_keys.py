#!/usr/bin/env python3
"""Lists torchtitan's job-configuration keys (section.key) from a checkout, without importing it.
  current: the frozen `--section.key` command-line options of Trainer.Config, as upstream's own
           tests/unit_tests/test_no_new_cli_options.py lists them (_FROZEN_CLI_OPTIONS);
  toml:    before the config refactor (torchtitan <= v0.2.2): the fields of JobConfig's sections
           in torchtitan/config/job_config.py, i.e. the TOML keys (nested sections joined by '.').
Usage: torchtitan_keys.py current|toml REPO_DIR COMMIT > file"""
import ast, pathlib, re, sys

mode, repo, commit = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
if mode == "current":
    s = (repo / "tests/unit_tests/test_no_new_cli_options.py").read_text()
    body = re.search(r"_FROZEN_CLI_OPTIONS = frozenset\(\s*\{(.*?)\}\s*\)", s, re.S).group(1)
    keys = sorted(set(re.findall(r'"([^"]+)"', body)))
    print(f"# torchtitan command-line options (--section.key), pytorch/torchtitan commit {commit}")
    print("# from tests/unit_tests/test_no_new_cli_options.py (_FROZEN_CLI_OPTIONS)")
else:
    tree = ast.parse((repo / "torchtitan/config/job_config.py").read_text())
    classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    def walk(name, prefix):
        out = []
        for st in classes[name].body:
            if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                ann = ast.unparse(st.annotation)
                if ann in classes:
                    out += walk(ann, prefix + st.target.id + ".")
                else:
                    out.append(prefix + st.target.id)
        return out
    keys = sorted(set(walk("JobConfig", "")))
    print(f"# torchtitan TOML job-config keys (section.key), pytorch/torchtitan commit {commit}")
    print("# (the last commit before the config refactor #2386), from torchtitan/config/job_config.py")
for k in keys:
    print(k)
