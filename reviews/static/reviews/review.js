// Keyboard shortcuts and live countdowns for the reviewer UI. No build step.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && target.type !== "radio"));
  }

  function choose(form, action) {
    var radio = form.querySelector('input[name="action"][value="' + action + '"]');
    if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  function showEditor(form) {
    var editing = form.querySelector('input[name="action"]:checked');
    var editor = document.getElementById("editor");
    if (editor) { editor.hidden = !(editing && editing.value === "edit"); }
  }

  function countdown(el) {
    var due = new Date(el.dataset.due);
    var label = el.id === "lease" ? "Your claim: " : "SLA ";
    function tick() {
      var seconds = Math.round((due - new Date()) / 1000);
      var late = seconds < 0;
      var s = Math.abs(seconds);
      var text = Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") +
        "m " + String(s % 60).padStart(2, "0") + "s";
      el.textContent = label + (late ? "breached " + text + " ago" : text + " left");
      el.classList.toggle("breached", late);
    }
    tick();
    setInterval(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-due]").forEach(countdown);
    var form = document.getElementById("decision-form");
    if (form) {
      form.addEventListener("change", function () { showEditor(form); });
      showEditor(form);
    }

    document.addEventListener("keydown", function (event) {
      if (form && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      if (form && document.getElementById("preference")) {
        var pick = form.querySelector('input[name="preference"][value="' + (event.key === "t" ? "tie" : event.key) + '"]');
        if (pick) { pick.checked = true; document.getElementById("id_reason_code").focus(); }
        if (event.key === "x") { document.getElementById("escalate-instead").click(); }
        return;
      }
      if (form) {
        if (event.key === "a") { choose(form, "approve"); form.requestSubmit(); }
        else if (event.key === "r") { choose(form, "reject"); document.getElementById("id_reason_code").focus(); }
        else if (event.key === "x") { choose(form, "escalate"); document.getElementById("id_reason_code").focus(); }
        else if (event.key === "e") {
          event.preventDefault();
          choose(form, "edit"); showEditor(form);
          document.getElementById("id_final_output").focus();
        }
        return;
      }
      if (event.key === "n") {
        var next = document.querySelector('[data-shortcut-next="1"]:not([disabled])');
        if (next) { next.click(); }
      }
    });
  });
})();
