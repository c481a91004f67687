"""What a rehearsal's scripted agent runs to update its phase's result.json.

    record.py UPDATE_JSON [SCORE_COMMAND SCORE_KEY]

Merges UPDATE_JSON (an object; nested objects merge one level deep) into the newest
result.json under .harnessgym/runs/. With SCORE_COMMAND, runs it, and when its JSON passed,
records its SCORE_KEY as metrics.score and metrics.<SCORE_KEY>, the command and its outcome
under `verification`, and `verified`.
"""

import glob
import json
import os
import subprocess
import sys


def newest_result():
    paths = glob.glob(".harnessgym/runs/*/iterations/*/result.json")
    if not paths:
        sys.exit("no result.json under .harnessgym/runs/")
    return max(paths, key=lambda p: (os.path.getmtime(os.path.dirname(os.path.dirname(os.path.dirname(p)))),
                                     int(p.split(os.sep)[-2])))


def main():
    path = newest_result()
    with open(path) as f:
        data = json.load(f)
    update = json.loads(sys.argv[1])
    if len(sys.argv) > 3:
        command, key = sys.argv[2], sys.argv[3]
        out = subprocess.run(command, shell=True, capture_output=True, text=True)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            report = {"status": "failed"}
        passed = out.returncode == 0 and report.get("status") == "passed"
        update.setdefault("metrics", {})
        if passed:
            update["metrics"].update({"score": report[key], key: report[key]})
        update["verification"] = dict(update.get("verification", {}), command=command,
                                      status="passed" if passed else "failed")
        update["verified"] = passed
        print(f"{command}: {report.get('status')} {key}={report.get(key)}")
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k].update(v)
        else:
            data[k] = v
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    print(f"updated {path}")


main()
