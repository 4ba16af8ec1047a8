import pytest

from service.incidents.statemachine import IllegalTransition, check_transition

OPEN = ["investigating", "identified", "mitigating", "monitoring"]


@pytest.mark.parametrize("current", OPEN)
@pytest.mark.parametrize("new", OPEN)
def test_open_statuses_move_freely(current, new):
    if current == new:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)
    else:
        check_transition(current, new)


@pytest.mark.parametrize("current", OPEN)
def test_resolved_only_through_resolve(current):
    with pytest.raises(IllegalTransition):
        check_transition(current, "resolved")
    check_transition(current, "resolved", via_resolve=True)


@pytest.mark.parametrize("current", OPEN)
def test_open_cannot_close(current):
    with pytest.raises(IllegalTransition):
        check_transition(current, "closed")


def test_resolved_may_close_or_reopen_only():
    check_transition("resolved", "closed")
    check_transition("resolved", "investigating")
    for new in ["identified", "mitigating", "monitoring"]:
        with pytest.raises(IllegalTransition):
            check_transition("resolved", new)
    with pytest.raises(IllegalTransition):
        check_transition("resolved", "resolved", via_resolve=True)


@pytest.mark.parametrize("new", OPEN + ["resolved"])
def test_closed_is_final(new):
    with pytest.raises(IllegalTransition):
        check_transition("closed", new, via_resolve=True)


def test_unknown_status():
    with pytest.raises(IllegalTransition):
        check_transition("investigating", "panicking")
