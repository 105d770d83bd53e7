// The board's live updates: each server-sent event carries the table as
// the server rendered it (escaped there); it replaces the one shown.
(function () {
  var box = document.getElementById("board");
  if (!box || !window.EventSource) { return; }
  var events = new EventSource(box.getAttribute("data-events"));
  events.onmessage = function (e) { box.innerHTML = e.data; };
})();
