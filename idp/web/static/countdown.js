// Live countdown of a one-time code's validity and of the wait before "Send a new code".
// The server enforces both; this only keeps the page honest without reloading.
(function () {
  "use strict";
  var started = Date.now();
  function secondsSince() { return Math.floor((Date.now() - started) / 1000); }

  var countdowns = document.querySelectorAll("[data-countdown]");
  var buttons = document.querySelectorAll("[data-cooldown]");
  buttons.forEach(function (button) {
    if (parseInt(button.dataset.cooldown, 10) > 0) { button.disabled = true; }
  });

  function tick() {
    var elapsed = secondsSince();
    countdowns.forEach(function (element) {
      var left = Math.max(0, parseInt(element.dataset.countdown, 10) - elapsed);
      var value = element.querySelector("[data-countdown-value]");
      if (left > 0) {
        value.textContent = String(left);
      } else {
        element.textContent = element.dataset.expiredText;
        element.classList.add("field-error");
      }
    });
    buttons.forEach(function (button) {
      if (parseInt(button.dataset.cooldown, 10) - elapsed <= 0) { button.disabled = false; }
    });
  }
  tick();
  window.setInterval(tick, 1000);
})();
