"""Translation markers for user-facing messages."""

import oslo_i18n

_translators = oslo_i18n.TranslatorFactory(domain="cyborg")

_ = _translators.primary
