import pytest

from campaigns.models import SenderPool
from campaigns.services.sender_pools import sender_pool_delete, sender_pool_numbers_parse, sender_pool_save
from campaigns.tests.factories import CampaignFactory
from smscampaigns.errors import ApplicationError


def test_numbers_are_parsed_one_a_line_with_an_optional_rate():
    parsed = sender_pool_numbers_parse("+1 415 555 0190\n\n(212) 555-0190 5\n312.555.0190, 3\n")
    assert parsed == [("+14155550190", None), ("+12125550190", 5), ("+13125550190", 3)]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("+14155550190\nnonsense", "line 2"),
        ("+14155550190\n415 555 0190", "line 2: +14155550190 is listed twice"),
        ("+14155550190 0", "line 1: a rate is 1 to 10000"),
    ],
)
def test_a_bad_line_is_named(text, problem):
    with pytest.raises(ApplicationError) as refused:
        sender_pool_numbers_parse(text)
    assert problem in refused.value.message and refused.value.field == "numbers"


@pytest.mark.django_db
def test_a_pool_keeps_exactly_its_numbers_and_one_in_use_is_not_deleted():
    pool = sender_pool_save(pool=SenderPool(name="p"), numbers=[("+14155550190", None)], actor=None, created=True)
    sender_pool_save(pool=pool, numbers=[("+12125550190", 4)], actor=None)
    assert pool.number_rates() == {"+12125550190": 4} and pool.total_rate == 4
    with pytest.raises(ApplicationError, match="at least one number"):
        sender_pool_save(pool=pool, numbers=[], actor=None)
    with pytest.raises(ApplicationError, match="UUID"):
        sender_pool_save(pool=SenderPool(name="pp", kind=SenderPool.Kind.POWERPACK), numbers=[], actor=None)
    CampaignFactory(sender="", sender_pool=pool)
    with pytest.raises(ApplicationError, match="cannot be deleted"):
        sender_pool_delete(pool=pool, actor=None)
