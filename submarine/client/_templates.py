"""The experiment template methods of both clients, as mixins they inherit.

:class:`TemplateMethods` (blocking) and :class:`AsyncTemplateMethods` (asyncio) only send
the calls of :mod:`submarine.client._template_calls`, loaded with the first template call;
they need of a client its core and its ``_call``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from submarine.models import (
    Experiment,
    ExperimentSpec,
    ExperimentTemplate,
    ExperimentTemplateSpec,
    ExperimentTemplateSpecPayload,
    ExperimentTemplateSubmit,
)

if TYPE_CHECKING:
    from submarine.client._core import ClientCore
    from submarine.client._steps import Call

__all__ = ["AsyncTemplateMethods", "ParamsInput", "TemplateInput", "TemplateMethods"]

T = TypeVar("T")

TemplateInput: TypeAlias = (
    ExperimentTemplateSpec | ExperimentTemplate | ExperimentTemplateSpecPayload | Mapping[str, Any]
)
"""What create and patch take: a template, one read back from a server, or a dict."""

ParamsInput: TypeAlias = ExperimentTemplateSubmit | Mapping[str, Any] | None
"""What submit and preview take: values by parameter name (None: every default)."""


class TemplateMethods:
    """The template methods of :class:`~submarine.client.ExperimentClient`."""

    if TYPE_CHECKING:
        _core: ClientCore

        def _call(self, call: Call[T]) -> T: ...

    def create_template(self, template: TemplateInput) -> ExperimentTemplate:
        """Create an experiment template: a spec with ``{{placeholders}}`` and parameters.

        :param template: an :class:`~submarine.models.ExperimentTemplateSpec`, or a dict or
            a template read from a server, judged as one (``TemplateValidationError``,
            listing every problem, before anything is sent): each placeholder has a
            parameter, each parameter is used, and the spec filled with the defaults is valid.
        :returns: the template as stored, with a parameter for each role's replicas, cpu and
            memory (``spec.<Role>.replicas``, ...), and its ``experiment_template_id``.
        """
        from submarine.client._template_calls import create_template_call

        return self._call(create_template_call(self._core, template))

    def get_template(self, name: str) -> ExperimentTemplate:
        """The template with this name (``NotFoundError`` when there is none).

        :param name: the template's name.
        """
        from submarine.client._template_calls import get_template_call

        return self._call(get_template_call(self._core, name))

    def list_templates(self) -> list[ExperimentTemplate]:
        """Every template on the server, in the order it keeps them."""
        from submarine.client._template_calls import list_templates_call

        return self._call(list_templates_call(self._core))

    def patch_template(self, name: str, template: TemplateInput) -> ExperimentTemplate:
        """Replace a template (its parameters and spec; the name stays).

        :param name: the template's name.
        :param template: the whole new template, bearing the same name (judged like
            ``create_template``'s).
        :returns: the template as now stored.
        """
        from submarine.client._template_calls import patch_template_call

        return self._call(patch_template_call(self._core, name, template))

    def delete_template(self, name: str) -> ExperimentTemplate:
        """Delete a template; experiments submitted from it stay.

        :param name: the template's name.
        :returns: the template as it was.
        """
        from submarine.client._template_calls import delete_template_call

        return self._call(delete_template_call(self._core, name))

    def submit_template(self, name: str, params: ParamsInput = None) -> Experiment:
        """Create an experiment from a template, with values for its parameters.

        :param name: the template's name.
        :param params: values by parameter name (numbers and booleans are sent as text;
            ``spec.Worker.replicas`` and the like set a value by its path); the others take
            their defaults. A name that is not a parameter, or a required parameter left
            out, is the server's ``BadRequestError``.
        :returns: the experiment, as ``create_experiment`` answers it.
        """
        from submarine.client._template_calls import submit_template_call

        return self._call(submit_template_call(self._core, name, params))

    def preview_template(self, name: str, params: ParamsInput = None) -> ExperimentSpec:
        """The experiment spec a template gives with these values, creating nothing.

        Only a server with the ``template-preview`` extension (the local server) fills a
        template without submitting it; on another, ``NotSupportedError`` says so before
        anything is sent for it.

        :param name: the template's name.
        :param params: values by parameter name, as for ``submit_template``.
        :returns: the filled spec, as ``create_experiment`` takes it.
        """
        from submarine.client._template_calls import check_preview, preview_template_call

        call = preview_template_call(self._core, name, params)
        if self._core.extensions is None:
            self._call(self._core.extensions_call())
        check_preview(self._core)
        return self._call(call)


class AsyncTemplateMethods:
    """The template methods of :class:`~submarine.client.AsyncExperimentClient`."""

    if TYPE_CHECKING:
        _core: ClientCore

        async def _call(self, call: Call[T]) -> T: ...

    async def create_template(self, template: TemplateInput) -> ExperimentTemplate:
        """Create an experiment template: a spec with ``{{placeholders}}`` and parameters.

        :param template: an :class:`~submarine.models.ExperimentTemplateSpec`, or a dict or
            a template read from a server, judged as one (``TemplateValidationError``,
            listing every problem, before anything is sent): each placeholder has a
            parameter, each parameter is used, and the spec filled with the defaults is valid.
        :returns: the template as stored, with a parameter for each role's replicas, cpu and
            memory (``spec.<Role>.replicas``, ...), and its ``experiment_template_id``.
        """
        from submarine.client._template_calls import create_template_call

        return await self._call(create_template_call(self._core, template))

    async def get_template(self, name: str) -> ExperimentTemplate:
        """The template with this name (``NotFoundError`` when there is none).

        :param name: the template's name.
        """
        from submarine.client._template_calls import get_template_call

        return await self._call(get_template_call(self._core, name))

    async def list_templates(self) -> list[ExperimentTemplate]:
        """Every template on the server, in the order it keeps them."""
        from submarine.client._template_calls import list_templates_call

        return await self._call(list_templates_call(self._core))

    async def patch_template(self, name: str, template: TemplateInput) -> ExperimentTemplate:
        """Replace a template (its parameters and spec; the name stays).

        :param name: the template's name.
        :param template: the whole new template, bearing the same name (judged like
            ``create_template``'s).
        :returns: the template as now stored.
        """
        from submarine.client._template_calls import patch_template_call

        return await self._call(patch_template_call(self._core, name, template))

    async def delete_template(self, name: str) -> ExperimentTemplate:
        """Delete a template; experiments submitted from it stay.

        :param name: the template's name.
        :returns: the template as it was.
        """
        from submarine.client._template_calls import delete_template_call

        return await self._call(delete_template_call(self._core, name))

    async def submit_template(self, name: str, params: ParamsInput = None) -> Experiment:
        """Create an experiment from a template, with values for its parameters.

        :param name: the template's name.
        :param params: values by parameter name (numbers and booleans are sent as text;
            ``spec.Worker.replicas`` and the like set a value by its path); the others take
            their defaults. A name that is not a parameter, or a required parameter left
            out, is the server's ``BadRequestError``.
        :returns: the experiment, as ``create_experiment`` answers it.
        """
        from submarine.client._template_calls import submit_template_call

        return await self._call(submit_template_call(self._core, name, params))

    async def preview_template(self, name: str, params: ParamsInput = None) -> ExperimentSpec:
        """The experiment spec a template gives with these values, creating nothing.

        Only a server with the ``template-preview`` extension (the local server) fills a
        template without submitting it; on another, ``NotSupportedError`` says so before
        anything is sent for it.

        :param name: the template's name.
        :param params: values by parameter name, as for ``submit_template``.
        :returns: the filled spec, as ``create_experiment`` takes it.
        """
        from submarine.client._template_calls import check_preview, preview_template_call

        call = preview_template_call(self._core, name, params)
        if self._core.extensions is None:
            await self._call(self._core.extensions_call())
        check_preview(self._core)
        return await self._call(call)
