// Live character counter for long texts (included by templates/base.html; a file, not inline script, so the
// Content-Security-Policy allows it). A textarea with data-maxlength (web/forms.py) or maxlength gets a counter
// "n / limit" under it. The maxlength attribute is removed: a browser silently cuts pasted text at it, whereas
// here the whole text stays, the counter turns red and says how much to shorten, and the server refuses
// over-long text with a message (nothing is ever cut off without the writer seeing it).
(function () {
  "use strict";
  var script = document.currentScript;
  var texts = {
    count: (script && script.getAttribute("data-count")) || "{n} / {max}",
    over: (script && script.getAttribute("data-over")) || "{over} / {max}"
  };

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : all;
    });
  }

  function grouped(n) {
    return n.toLocaleString(document.documentElement.lang || undefined);
  }

  function attach(area, index) {
    var limit = parseInt(area.getAttribute("data-maxlength") || area.getAttribute("maxlength"), 10);
    if (!(limit > 0) || area.getAttribute("data-counter-ready")) { return; }
    area.setAttribute("data-maxlength", String(limit));
    area.removeAttribute("maxlength");
    area.setAttribute("data-counter-ready", "1");
    var line = document.createElement("div");  // a line of its own, above the field's hint
    line.className = "char-counter";
    var counter = document.createElement("small");
    counter.id = area.id ? area.id + "-counter" : "char-counter-" + index;
    counter.setAttribute("aria-live", "polite");
    line.appendChild(counter);
    area.insertAdjacentElement("afterend", line);
    var described = area.getAttribute("aria-describedby");
    area.setAttribute("aria-describedby", described ? described + " " + counter.id : counter.id);

    function update() {
      // counted as the server's check counts them: a CJK character or an emoji is one, and a line break two,
      // because the browser sends it as CR LF
      var n = Array.from(area.value.replace(/\r?\n/g, "\r\n")).length;
      var over = n - limit;
      counter.textContent = over > 0
        ? format(texts.over, {over: grouped(over), max: grouped(limit), n: grouped(n)})
        : format(texts.count, {n: grouped(n), max: grouped(limit)});
      counter.className = over > 0 ? "error over" : "hint";  // app.css: .error is red, .hint muted
      if (over > 0) { area.setAttribute("aria-invalid", "true"); } else if (!area.closest(".has-error")) {
        area.removeAttribute("aria-invalid");
      }
    }

    area.addEventListener("input", update);
    update();
  }

  function start() {
    var areas = document.querySelectorAll("textarea[data-maxlength], textarea[maxlength]");
    for (var i = 0; i < areas.length; i += 1) { attach(areas[i], i); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
