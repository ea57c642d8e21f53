"""The ``submarine template`` commands: each one a call of the public client.

``submit --wait`` and ``--follow`` follow the experiment made as ``experiment create``
does.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from submarine.cli._errors import CliError
from submarine.cli._experiment import (
    IntervalOption,
    OutputOption,
    TimeoutOption,
    _client,
    _wait,
    load_checked,
    naming_the_missing,
)
from submarine.cli._output import OutputFormat, dump, emit, resolve_format, show
from submarine.cli._specfile import check_template_file
from submarine.models import ExperimentSpec, ExperimentTemplate, ExperimentTemplateSpec

__all__ = ["parse_params", "template_app"]

template_app = typer.Typer(
    name="template",
    help="Store experiment templates and create experiments from them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# -- helpers -----------------------------------------------------------------------------


def _about(name: str) -> contextlib.AbstractContextManager[None]:
    """Turn "ExperimentTemplate not found." into a line that names it and what to do."""
    return naming_the_missing("template", name, "templates")


def _load_template(path: Path) -> ExperimentTemplateSpec:
    """A valid template from a file, or every problem (with its line) and exit 1."""
    return load_checked(path, check_template_file, "template")


def parse_params(given: Sequence[str]) -> dict[str, str]:
    """``key=value`` pairs as a mapping; a pair without ``=``, or a key given twice, is a
    usage error."""
    params: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(
                f"{item!r} is not key=value, like learning_rate=0.2 or spec.Worker.replicas=2",
                param_hint="'-p' / '--param'",
            )
        if key in params:
            raise typer.BadParameter(
                f"{key!r} is given twice ({params[key]!r} and {value!r}): give it once",
                param_hint="'-p' / '--param'",
            )
        params[key] = value
    return params


def _emit(
    items: ExperimentTemplate | Sequence[ExperimentTemplate], fmt: OutputFormat | None
) -> None:
    """Print a template or a list of them in the chosen (or default) format."""
    fmt = resolve_format(fmt)
    if fmt is OutputFormat.TABLE:
        from submarine.cli._tables import print_table, template_table, templates_table

        if isinstance(items, ExperimentTemplate):
            print_table(template_table(items))
        else:
            print_table(templates_table(items))
        return
    data: Any = (
        items.to_dict() if isinstance(items, ExperimentTemplate) else [t.to_dict() for t in items]
    )
    sys.stdout.write(dump(data, fmt))
    sys.stdout.flush()


TemplateFileOption = Annotated[
    Path,
    typer.Option(
        "-f",
        "--file",
        exists=True,
        dir_okay=False,
        readable=True,
        help="The template: a .yaml, .yml or .json file with name, parameters and experimentSpec.",
    ),
]
NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="The template's name.", show_default=False)
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "-p",
        "--param",
        metavar="KEY=VALUE",
        help="A parameter's value (repeat for more): learning_rate=0.2, spec.Worker.replicas=2. "
        "The others take their defaults.",
        show_default=False,
    ),
]


# -- template commands -------------------------------------------------------------------


@template_app.command("create")
def create(file: TemplateFileOption, output: OutputOption = None) -> None:
    """Store a template from a file (checked first, every problem with its line)."""
    template = _load_template(file)
    with _client() as client:
        _emit(client.create_template(template), output)


@template_app.command("list")
def list_(output: OutputOption = None) -> None:
    """List the templates on the server."""
    with _client() as client:
        _emit(client.list_templates(), output)


@template_app.command("get")
def get(name: NameArgument, output: OutputOption = None) -> None:
    """Show one template: what it runs and its parameters."""
    with _client() as client, _about(name):
        _emit(client.get_template(name), output)


@template_app.command("patch")
def patch(name: NameArgument, file: TemplateFileOption, output: OutputOption = None) -> None:
    """Replace a template with a file bearing the same name."""
    template = _load_template(file)
    if template.name != name:
        raise CliError(
            f"{file}: the template's name is {template.name!r}, not {name!r}: a patch keeps "
            "the name (create it under the new name, then delete the old one)"
        )
    with _client() as client, _about(name):
        _emit(client.patch_template(name, template), output)


@template_app.command("delete")
def delete(name: NameArgument, output: OutputOption = None) -> None:
    """Delete a template (experiments made from it stay)."""
    with _client() as client, _about(name):
        _emit(client.delete_template(name), output)


@template_app.command("submit")
def submit(
    name: NameArgument,
    param: ParamOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until it Succeeded (exit 0) or not (exit 1).")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Print its log lines as they come (implies --wait).")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    output: OutputOption = None,
) -> None:
    """Create an experiment from a template, and optionally wait for it to finish.

    With --wait the final experiment is printed only when -o is given.
    """
    params = parse_params(param or [])
    with _client() as client:
        with _about(name):
            experiment = client.submit_template(name, params)
        if not (wait or follow):
            emit(experiment, output)
            return
        run = experiment.spec.meta.name if experiment.spec is not None else None
        show(f"created {experiment.experiment_id} ({run or ''}) from {name}\n", sys.stderr)
        _wait(
            client,
            experiment.experiment_id,
            interval=interval,
            timeout=timeout,
            follow=follow,
            output=output,
        )


@template_app.command("preview")
def preview(
    name: NameArgument,
    param: ParamOption = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "-o",
            "--output",
            case_sensitive=False,
            help="yaml (the default) or json: the filled spec, as `experiment create -f` takes it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the experiment spec a submit would create, creating nothing (the local server's
    template-preview extension)."""
    params = parse_params(param or [])
    with _client() as client, _about(name):
        spec: ExperimentSpec = client.preview_template(name, params)
    fmt = OutputFormat.JSON if output is OutputFormat.JSON else OutputFormat.YAML
    sys.stdout.write(dump(spec.to_dict(), fmt))
    sys.stdout.flush()
