/* Live preview, injected by `dlcards watch` into the page it serves (never part of the built file).
   After a good rebuild that changed only cards, those cards are swapped in place (the server sends
   their markup); after any other change the page reloads. Either way the reader stays where they
   were: the card being edited (or the first card on screen) at the same height, the same answers
   open, the same search. After a failed build an overlay lists each problem with its location; it
   goes when the build is fixed. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("live-config").textContent);
  var KEY = "dlcards-live-place";

  function cardOnScreen(ids) {
    var height = window.innerHeight;
    function visible(el) {
      if (!el || !el.offsetParent) return false;
      var r = el.getBoundingClientRect();
      return r.bottom > 0 && r.top < height;
    }
    for (var i = 0; i < ids.length; i++) {
      var edited = document.getElementById(ids[i]);
      if (visible(edited)) return edited;
    }
    var cards = document.querySelectorAll(".card");
    for (var j = 0; j < cards.length; j++) {
      if (visible(cards[j])) return cards[j];
    }
    return null;
  }

  function remember(changed) {
    var anchor = cardOnScreen(changed || []);
    var place = {
      anchor: anchor ? anchor.id : null,
      offset: anchor ? anchor.getBoundingClientRect().top : 0,
      y: window.scrollY,
      closed: [], open: [],
      query: (document.getElementById("q") || {}).value || ""
    };
    document.querySelectorAll(".card").forEach(function (card) {
      var qa = card.querySelector("details.qa"), more = card.querySelector("details.more");
      if (qa && !qa.open) place.closed.push(card.id);
      if (more && more.open) place.open.push(card.id);
    });
    try { sessionStorage.setItem(KEY, JSON.stringify(place)); } catch (e) { /* storage may be off */ }
  }

  function restore() {
    var place = null;
    try {
      place = JSON.parse(sessionStorage.getItem(KEY));
      sessionStorage.removeItem(KEY);
    } catch (e) { /* nothing saved */ }
    if (!place) return;
    place.closed.forEach(function (id) {
      var qa = document.querySelector('[id="' + CSS.escape(id) + '"] details.qa');
      if (qa) qa.open = false;
    });
    place.open.forEach(function (id) {
      var more = document.querySelector('[id="' + CSS.escape(id) + '"] details.more');
      if (more) more.open = true;
    });
    var input = document.getElementById("q");
    if (input && place.query) {
      input.value = place.query;
      input.dispatchEvent(new Event("input"));
    }
    var anchor = place.anchor && document.getElementById(place.anchor);
    function scroll() {
      if (anchor) window.scrollBy(0, anchor.getBoundingClientRect().top - place.offset);
      else window.scrollTo(0, place.y);
    }
    scroll();
    /* chapters lay out lazily (content-visibility): settle once more after the first paints */
    requestAnimationFrame(function () { requestAnimationFrame(scroll); });
  }

  var host = null;
  function overlay(status) {
    if (!status.errors.length) {
      if (host) { host.remove(); host = null; }
      return;
    }
    if (!host) {
      host = document.createElement("div");
      host.id = "dlcards-live-overlay";
      host.attachShadow({ mode: "open" });
      document.body.appendChild(host);
    }
    var root = host.shadowRoot;
    root.textContent = "";
    var style = document.createElement("style");
    style.textContent =
      ".box{position:fixed;z-index:2147483647;left:1rem;right:1rem;bottom:1rem;max-height:60vh;overflow:auto;" +
      "background:#fff5f5;color:#3b0a0a;border:2px solid #c62828;border-radius:8px;padding:.8rem 1rem;" +
      "font:14px/1.45 system-ui,sans-serif;box-shadow:0 6px 24px rgba(0,0,0,.25)}" +
      "h2{font-size:15px;margin:0 0 .4rem}ul{margin:0;padding-left:1.2rem}li{margin:.25rem 0}" +
      "code{font:13px/1.4 ui-monospace,monospace;font-weight:700;word-break:break-all}" +
      "p{margin:.5rem 0 0;color:#6b2b2b}button{float:right;font:inherit;cursor:pointer}";
    var box = document.createElement("div");
    box.className = "box";
    box.setAttribute("role", "alert");
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.setAttribute("aria-label", "close");
    close.addEventListener("click", function () { host.remove(); host = null; });
    var title = document.createElement("h2");
    title.textContent = "构建失败 · build failed: " + status.errors.length + " error" +
      (status.errors.length === 1 ? "" : "s");
    var list = document.createElement("ul");
    status.errors.forEach(function (e) {
      var item = document.createElement("li");
      var where = document.createElement("code");
      where.className = "loc";
      where.textContent = e.loc;
      item.appendChild(where);
      item.appendChild(document.createTextNode(" " + e.message));
      list.appendChild(item);
    });
    var note = document.createElement("p");
    note.textContent = "页面仍是上一次成功的构建 · the page shows the last good build.";
    box.append(close, title, list, note);
    root.append(style, box);
  }

  /* swap changed cards in place; false if the page does not have them all (then it reloads) */
  function swap(cards, changed) {
    var ids = Object.keys(cards);
    if (!ids.every(function (id) { return document.getElementById(id); })) return false;
    var anchor = cardOnScreen(changed);
    var offset = anchor ? anchor.getBoundingClientRect().top : 0;
    ids.forEach(function (id) {
      var old = document.getElementById(id);
      var template = document.createElement("template");
      template.innerHTML = cards[id];
      var fresh = template.content.firstElementChild;
      ["details.qa", "details.more"].forEach(function (sel) {
        var before = old.querySelector(sel), after = fresh.querySelector(sel);
        if (before && after) after.open = before.open;
      });
      fresh.hidden = old.hidden;
      old.replaceWith(fresh);
    });
    if (anchor) {
      var now = document.getElementById(anchor.id);
      if (now) window.scrollBy(0, now.getBoundingClientRect().top - offset);
    }
    document.dispatchEvent(new CustomEvent("cheatsheet:changed"));
    return true;
  }

  function onBuild(status) {
    if (status.ok && status.page > config.page) {
      if (status.swap && status.base === config.page && swap(status.swap, status.changed)) {
        config.page = status.page;
        overlay(status);
        return;
      }
      remember(status.changed);
      location.reload();
      return;
    }
    overlay(status);
  }

  restore();
  var source = new EventSource(config.events);
  source.addEventListener("build", function (event) { onBuild(JSON.parse(event.data)); });
  window.addEventListener("pagehide", function () { source.close(); });
})();
