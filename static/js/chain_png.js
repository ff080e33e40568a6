/* The industry-chain map as a PNG, drawn in the browser (no CDN, nothing server-side): fetch the served SVG,
   draw it on a canvas at twice its size and download the canvas. A button: data-chain-png="<svg url>",
   data-filename, data-failed (the message when it cannot be drawn). */
(function () {
  "use strict";
  function fail(btn) {
    window.alert(btn.getAttribute("data-failed") || "PNG export failed");
  }
  function draw(btn, text) {
    var img = new Image();
    img.onload = function () {
      var scale = 2, canvas = document.createElement("canvas");
      canvas.width = (img.naturalWidth || 960) * scale;
      canvas.height = (img.naturalHeight || 600) * scale;
      var g = canvas.getContext("2d");
      g.fillStyle = "#ffffff";
      g.fillRect(0, 0, canvas.width, canvas.height);
      g.drawImage(img, 0, 0, canvas.width, canvas.height);
      var a = document.createElement("a");
      a.href = canvas.toDataURL("image/png");
      a.download = btn.getAttribute("data-filename") || "chain.png";
      document.body.appendChild(a);
      a.click();
      a.remove();
      btn.setAttribute("data-done", "1");
    };
    img.onerror = function () { fail(btn); };
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-chain-png]");
    Array.prototype.forEach.call(buttons, function (btn) {
      btn.hidden = false;
      btn.addEventListener("click", function (ev) {
        ev.preventDefault();
        fetch(btn.getAttribute("data-chain-png"), {credentials: "same-origin"})
          .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
          .then(function (text) { draw(btn, text); })
          .catch(function () { fail(btn); });
      });
    });
  });
}());
