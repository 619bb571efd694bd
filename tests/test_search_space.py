"""Search settings of `python train.py -m hparams_search=optuna`: the forms of a search space (interval, range,
choice, tags), the pruner choices, and bad spaces or settings refused in one error line before any trial."""

from __future__ import annotations

import pytest
from test_compare import sweep_overrides
from test_search import SEARCH, search_in_process

from overfit.search.space import SearchError, make_pruner, parse_space


@pytest.mark.parametrize(
    "line,says",
    [
        ("model.dropout=interval(0.6, 0.1)", "lower end must be below"),
        ("model.optimizer.lr=tag(log, interval(0, 1e-2))", "log interval must start above 0"),
        ("model.dropout=tag(fast, interval(0, 0.5))", "unknown tag"),
        ("data.batch_size=tag(int, interval(1.5, 8))", "integer ends"),
        ("data.batch_size=range(8, 8)", "range is empty"),
        ("model.dropout=glob(*)", "interval(), range() and choice()"),
        ("model.dropout=interval(0.1 0.5)", "search space model.dropout=interval(0.1 0.5)"),
    ],
)
def test_bad_search_spaces_are_named_in_one_line(line, says):
    with pytest.raises(SearchError) as err:
        parse_space([line])
    assert says in str(err.value) and "\n" not in str(err.value)


def test_search_space_forms_and_pruner_choices():
    space, fixed = parse_space(
        [
            "a=tag(log, int, interval(64, 1024))",
            "b=range(5, 25, 5)",
            "c=choice([16,16],[64,64])",
            "d=0.3",
            "e=tag(log, interval(1e-4, 1e-2))",
        ]
    )
    assert (space["a"].low, space["a"].high, space["a"].log, type(space["a"]).__name__) == (
        64,
        1024,
        True,
        "IntDistribution",
    )
    assert (space["b"].low, space["b"].high, space["b"].step) == (5, 20, 5)
    assert space["c"].choices == ("[16,16]", "[64,64]") and fixed == {"d": "d=0.3"} and space["e"].log
    assert (
        type(make_pruner({"pruner": "successive_halving", "pruners": {"successive_halving": {}}})).__name__
        == "SuccessiveHalvingPruner"
    )
    assert type(make_pruner({"pruner": "none"})).__name__ == "NopPruner"
    for settings, says in (
        (
            {"pruner": "median", "pruners": {"median": {"n_warmup": 2}}},
            "hydra.sweeper.pruners.median: MedianPruner.__init__() got an unexpected keyword",
        ),
        ({"pruner": "fastest"}, "choose one of median, successive_halving, hyperband, none"),
    ):
        with pytest.raises(SearchError) as err:
            make_pruner(settings)
        assert says in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,says",
    [
        (["model.dropuot=interval(0, 0.5)"], "search space model.dropuot: no such key in the config"),
        (["model.dropout=interval(0.6, 0.1)"], "search space model.dropout=interval(0.6, 0.1): the lower end"),
        (["hydra.sweeper.pruner=fastest"], "hydra.sweeper.pruner=fastest: choose one of"),
    ],
)
def test_bad_search_settings_fail_in_one_line_before_any_trial(tiny_archive, tmp_path, args, says):
    result = search_in_process(*SEARCH[1:], *sweep_overrides(tiny_archive, tmp_path), *args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "logs" / "optuna" / "overfit_imdb.journal").exists()  # no study, no trial
