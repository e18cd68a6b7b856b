/* Cheat sheet behaviour: search, reveal/hide all answers, theme toggle, print.
   Everything here is an enhancement: without it the page shows every answer. */
(function () {
  "use strict";
  var root = document.documentElement;
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var chapters = Array.prototype.slice.call(document.querySelectorAll(".chapter"));
  var answers = Array.prototype.slice.call(document.querySelectorAll("details.qa"));
  var input = document.getElementById("q");
  var count = document.getElementById("count");
  var themeButton = document.getElementById("theme");
  var index = null;

  document.getElementById("toolbar").hidden = false;
  /* the page has no inline handlers: the only event handlers are the ones set up here */
  document.querySelector("form.search").addEventListener("submit", function (e) { e.preventDefault(); });

  /* search: question, answer text and the TeX source (KaTeX keeps it in <annotation>) */
  function normalise(text) {
    return text.toLowerCase().replace(/\s+/g, " ");
  }
  function buildIndex() {
    index = cards.map(function (card) {
      var copy = card.cloneNode(true);
      copy.querySelectorAll(".katex").forEach(function (math) {
        var tex = math.querySelector("annotation");
        math.replaceWith(" " + (tex ? tex.textContent : "") + " ");
      });
      copy.querySelectorAll("svg, .self").forEach(function (el) { el.remove(); });
      return normalise(card.id + " " + copy.textContent);
    });
  }
  function filter() {
    var terms = normalise(input.value).split(" ").filter(Boolean);
    if (terms.length && !index) buildIndex();
    var shown = 0;
    cards.forEach(function (card, i) {
      var match = terms.every(function (t) { return index[i].indexOf(t) >= 0; });
      card.hidden = !match;
      if (match) shown++;
    });
    chapters.forEach(function (ch) {
      ch.hidden = !ch.querySelector(".card:not([hidden])");
    });
    root.classList.toggle("searching", terms.length > 0);
    count.textContent = terms.length ? shown + " / " + cards.length + " 张卡片" : cards.length + " 张卡片";
  }
  input.addEventListener("input", filter);
  input.addEventListener("focus", function () { if (!index) buildIndex(); }, { once: true });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { input.value = ""; filter(); input.blur(); }
  });
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      input.focus();
    }
  });

  /* quiz: hide every answer, or show them all */
  function setAll(open) {
    answers.forEach(function (d) { d.open = open; });
  }
  document.getElementById("hide-all").addEventListener("click", function () { setAll(false); });

  /* the live preview swapped cards in place: list them again */
  document.addEventListener("cheatsheet:changed", function () {
    cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
    answers = Array.prototype.slice.call(document.querySelectorAll("details.qa"));
    index = null;
    if (input.value) filter();
  });
  document.getElementById("reveal-all").addEventListener("click", function () { setAll(true); });

  /* a link to a card shows it, even when a search or the quiz hides it */
  function showTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) return;
    if (target.closest("[hidden]")) {
      input.value = "";
      filter();
      target.scrollIntoView();
    }
    if (target.classList.contains("card")) target.querySelector("details.qa").open = true;
  }
  window.addEventListener("hashchange", showTarget);
  showTarget();

  /* theme: follows the system until the reader chooses */
  var dark = window.matchMedia("(prefers-color-scheme: dark)");
  function isDark() {
    var chosen = root.getAttribute("data-theme");
    return chosen ? chosen === "dark" : dark.matches;
  }
  function showTheme() {
    var on = isDark();
    themeButton.setAttribute("aria-pressed", on ? "true" : "false");
  }
  themeButton.addEventListener("click", function () {
    var next = isDark() ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("cheatsheet-theme", next); } catch (e) { /* storage may be off */ }
    showTheme();
  });
  if (dark.addEventListener) dark.addEventListener("change", showTheme);
  showTheme();

  /* print every answer, then restore the quiz state */
  var before = null;
  window.addEventListener("beforeprint", function () {
    before = answers.map(function (d) { return d.open; });
    setAll(true);
  });
  window.addEventListener("afterprint", function () {
    if (before) answers.forEach(function (d, i) { d.open = before[i]; });
    before = null;
  });
})();
