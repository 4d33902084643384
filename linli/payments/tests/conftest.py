"""The simulators' shared fixtures (live WeChat Pay and Alipay simulators, notification
sink, fast dispatcher), re-exported for the notification endpoint tests."""

from linli.paysim.tests.conftest import (  # noqa: F401 - fixtures, re-exported
    alipay_server,
    alipay_sim,
    notify_sink,
    paysim_dispatcher,
    sink,
    wechat_server,
    wechat_sim,
)
