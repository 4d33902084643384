"""Fixtures for the adapter tests: the simulators' shared fixtures (live simulator,
notification sink, fast dispatcher) from ``linli/paysim/tests/conftest.py``.
Append only: the WeChat and Alipay engineers both add fixtures here."""

from linli.paysim.tests.conftest import (  # noqa: F401 - fixtures, re-exported
    notify_sink,
    paysim_dispatcher,
    sink,
    wechat_server,
    wechat_sim,
)

# isort: split
from linli.paysim.tests.conftest import (  # noqa: F401 - Alipay fixtures, re-exported
    alipay_merchant,
    alipay_server,
    alipay_sim,
)
