import json

from asr_kd.report import results_table


def _fake(exp, wers, params=1e6):
    for s, w in wers.items():
        d = exp / f"decode_{s}"
        d.mkdir(parents=True)
        rtf = {"rtf_total": 0.01, "rtf_model": 0.008, "device": "cpu", "threads": 1, "batch_size": 1, "cpu": "x",
               "torch": "2.9.1"}
        (d / "result.json").write_text(json.dumps({"wer": w, "cer": w / 2, "params": params, "rtf": rtf,
                                                  "per_spk": {"spk1": {"wer": w}}}))
    return exp


def test_table_and_gap_recovered(tmp_path):
    exps = [_fake(tmp_path / n, {"dev": d, "test": t}) for n, d, t in
            (("ctc", 40.0, 50.0), ("kd", 30.0, 35.0), ("teacher", 20.0, 20.0))]
    table = results_table(exps, ["dev", "test"], "test", gap=True)
    row = next(line for line in table.splitlines() if line.startswith("| kd "))
    assert row.split("|")[1:-1][-2:] == [" 50% ", " 50% "]
    assert "| ctc | 1.00M | 40.00 | 50.00 | 20.00 | 25.00 | 0.0100 | 0.0080 | - | 0% | 0% |" in table
    assert "| spk1 | 40.00 | 30.00 | 20.00 |" in table


def test_beam_lm_columns_appear_when_every_model_has_them(tmp_path):
    exps = [_fake(tmp_path / n, {"dev": d, "test": t}) for n, d, t in (("s", 40.0, 50.0), ("t", 20.0, 30.0))]
    assert "beam+LM" not in results_table(exps, ["dev", "test"], "test")
    for e, w in zip(exps, (45.0, 25.0)):
        (e / "decode_test_lm").mkdir()
        (e / "decode_test_lm" / "result.json").write_text((e / "decode_test" / "result.json").read_text()
                                                          .replace('"wer": ' + str(w + 5), f'"wer": {w}'))
    table = results_table(exps, ["dev", "test"], "test")
    assert "| model | params | dev WER | test WER | test WER beam+LM | dev CER |" in table
    assert "| s | 1.00M | 40.00 | 50.00 | 45.00 | 20.00 | 25.00 |" in table
