/* Owner portal: a few small behaviours, no framework. Everything works without it. */
(function () {
  "use strict";
  document.documentElement.className += " js";

  // Forms that must be sent once: disable the button on the first tap (the server's
  // request key makes a second submit harmless anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; b.classList.add("busy"); }, 0);
      });
    });
  });

  // Choosing bills: recompute the total on the server at each change.
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.addEventListener("change", function () { form.submit(); });
  });

  // Result page: follow the order every 2 s until its status changes, then reload.
  var order = document.getElementById("order");
  if (order && order.dataset.follow) {
    var shown = order.dataset.status, url = order.dataset.follow;
    var poll = function () {
      fetch(url, {credentials: "same-origin", cache: "no-store"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.status !== shown) { window.location.reload(); return; }
          setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 2000);
  }

  // WeChat JSAPI: inside WeChat's browser open the payment sheet.
  var params = document.getElementById("jsapi-params");
  var button = document.getElementById("jsapi-pay");
  if (params && button) {
    var invoke = function () {
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", JSON.parse(params.textContent),
        function () { window.location.reload(); });
    };
    button.addEventListener("click", function (event) {
      if (window.WeixinJSBridge) { event.preventDefault(); invoke(); }
    });
  }
})();
