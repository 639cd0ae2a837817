import csv
import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from risk.models import ScoringModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"


def write_csv(path, rows, header):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def analyst_csv(tmp_path, n=400):
    rng = random.Random(4)
    rows = []
    for _ in range(n):
        income = rng.randint(2000, 30000)
        region = rng.choice(["north", "south", "east", ""])
        late = rng.choice(["", "0", "1", "3"])
        risk = (30000 - income) / 30000 + (0.4 if region == "south" else 0) + 0.2 * int(late or 0)
        rows.append([income, region, late, "bad" if rng.random() < risk / 2 else "good"])
    return write_csv(tmp_path / "loans.csv", rows, ["income", "region", "late_payments", "outcome"])


def test_synthetic_training_registers_and_activates_with_a_report(tmp_path):
    report = tmp_path / "report.json"
    call_command("train_model", "--rows", "2000", "--cv", "3", "--report", str(report))
    data = json.loads(report.read_text())
    assert {"auc", "ks", "gini", "brier", "n_rows", "positive_rate", "model_version"} <= set(data)
    assert data["n_rows"] == 2000 and "cv_auc_mean" in data
    model = ScoringModel.objects.get(version=data["model_version"])
    assert model.is_active and model.file_sha256 == data["file_sha256"]
    call_command("train_model", "--if-no-active")
    assert ScoringModel.objects.count() == 1


def test_csv_training_registers_without_activating(tmp_path):
    path = analyst_csv(tmp_path)
    call_command(
        "train_model", "--csv", path, "--target", "outcome", "--positive", "bad", "--monotone", "late_payments=+1"
    )
    model = ScoringModel.objects.get()
    assert not model.is_active
    assert model.feature_spec["types"] == ["q", "c", "q"] and model.feature_spec["categories"]["region"] == [
        "east", "north", "south"
    ]  # fmt: skip
    assert model.metrics["n_rows"] == 400


@pytest.mark.parametrize(
    "rows, header, args, message",
    [
        ([[1, "a"]] * 30, ["x", "y"], ["--target", "outcome"], "not in the CSV"),
        ([[1, "a"], [2, "b"], [3, "c"]] * 10, ["x", "outcome"], ["--target", "outcome"], "exactly two values"),
        ([[1, ""]] * 30, ["x", "outcome"], ["--target", "outcome"], "exactly two values"),
        (
            [[i, "bad" if i % 2 else "good"] for i in range(10)],
            ["x", "outcome"],
            ["--target", "outcome"],
            "usable rows",
        ),
        (
            [[f"id-{i}", "bad" if i % 2 else "good"] for i in range(80)],
            ["x", "outcome"],
            ["--target", "outcome"],
            "too many to treat as categorical",
        ),
    ],
)
def test_bad_csv_exits_2_with_one_line_and_registers_nothing(tmp_path, rows, header, args, message):
    path = write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("train_model", "--csv", path, "--positive", "bad", *args)
    assert excinfo.value.returncode == 2 and "\n" not in str(excinfo.value)
    assert not ScoringModel.objects.exists()
