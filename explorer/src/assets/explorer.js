// The release explorer's one script: the takedown basket, kept in this browser's localStorage
// per version. It never writes markup: conversation hashes are set as text and attributes only.
"use strict";
(function () {
  var version = document.body ? document.body.getAttribute("data-version") || "" : "";
  var key = "wildchat-explorer-basket:" + version;
  var isHash = function (value) { return /^[0-9a-f]{32}$/.test(value); };
  function load() {
    try {
      var items = JSON.parse(window.localStorage.getItem(key) || "[]");
      return Array.isArray(items) ? items.filter(isHash) : [];
    } catch (error) { return []; }
  }
  function save(items) { window.localStorage.setItem(key, JSON.stringify(items)); render(items); }
  function render(items) {
    var count = document.getElementById("basket-count");
    if (count) { count.textContent = String(items.length); }
    var boxes = document.querySelectorAll("input.basket[data-hash]");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].checked = items.indexOf(boxes[i].getAttribute("data-hash")) >= 0;
    }
    var list = document.getElementById("basket-list");
    if (list) {
      while (list.firstChild) { list.removeChild(list.firstChild); }
      items.forEach(function (hash) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.setAttribute("href", "/conversation/" + hash);
        link.textContent = hash;
        item.appendChild(link);
        list.appendChild(item);
      });
      if (items.length === 0) { list.textContent = "The basket is empty."; }
    }
    var download = document.getElementById("basket-download");
    if (download) {
      download.setAttribute("href", "/basket.txt?" + items.map(function (hash) { return "hash=" + hash; }).join("&"));
    }
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input.basket[data-hash]")) { return; }
    var hash = box.getAttribute("data-hash");
    var items = load().filter(function (item) { return item !== hash; });
    if (box.checked && isHash(hash)) { items.push(hash); }
    save(items);
  });
  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "basket-clear") { save([]); }
  });
  document.addEventListener("DOMContentLoaded", function () { render(load()); });
})();
