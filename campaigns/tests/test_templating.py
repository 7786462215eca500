import pytest

from campaigns.templating import body_render, body_validate, body_variables
from smscampaigns.errors import ApplicationError


def test_names_attributes_and_defaults_are_rendered():
    body = 'Hi {{ first_name|default:"there" }} {{ last_name }}, code {{ promo }} {{ missing }}!'
    assert body_render(body, first_name="", last_name="Okafor", attributes={"promo": "SAVE10"}) == (
        "Hi there Okafor, code SAVE10 !"
    )


def test_a_filter_argument_the_contact_has_no_value_for_renders_blank():
    body = "Hi {{ nickname|default:first_name }}{{ title|default:missing }}!"
    assert body_render(body, first_name="Ana") == "Hi Ana!"
    assert body_render(body, attributes={"nickname": "Nana", "title": " Dr"}) == "Hi Nana Dr!"
    assert body_render(body) == "Hi !"


def test_text_is_not_html_escaped():
    assert body_render("{{ first_name }} & co", first_name="Tom <3") == "Tom <3 & co"


def test_attributes_cannot_shadow_names_or_smuggle_objects():
    rendered = body_render(
        "{{ first_name }}|{{ nested.key }}|{{ nested }}",
        first_name="Ann",
        attributes={"first_name": "Mallory", "nested": {"key": "secret"}},
    )
    assert rendered == "Ann||"


@pytest.mark.parametrize(
    "body",
    ["{% debug %}", "{% load static %}", '{% include "admin/base.html" %}', "{{ first_name|safe }}", "{% if x %}"],
)
def test_a_body_reaching_for_anything_else_is_refused_with_the_reason(body):
    with pytest.raises(ApplicationError, match="not a valid template") as excinfo:
        body_validate(body)
    assert excinfo.value.field == "body"


def test_body_variables_names_every_value_a_body_reads_and_no_literal():
    body = "{{ nickname|default:first_name }} {{ code.x|upper }} {{ 'lit' }} {{ 3 }} {# {{ hidden }} #} {{ last_name }}"
    assert body_variables(body) == ("code", "first_name", "last_name", "nickname")
    assert body_variables("No markup at all") == ()


def test_body_variables_of_a_broken_body_names_the_problem():
    with pytest.raises(ApplicationError, match="not a valid template"):
        body_variables("Hi {{ first_name|shout }}")


def test_rendered_text_is_a_plain_str_so_pages_that_show_it_escape_it():
    from django.template import Context, Template
    from django.utils.safestring import SafeData

    hostile = "<script>alert(1)</script>"
    rendered = body_render("Hi {{ first_name }} & co", first_name=hostile)
    assert rendered == f"Hi {hostile} & co"  # the SMS itself is the text as typed
    assert type(rendered) is str and not isinstance(rendered, SafeData)
    shown = Template("{{ body }}").render(Context({"body": rendered}))
    assert "<script>" not in shown and "&lt;script&gt;" in shown
