// Filters the items table by verdict and text, sorts it by a column, copies a plan's SQL,
// EXPLAIN text or JSON, and opens an item's details when its link is followed. The report
// reads fine without it: plans and details are native <details> elements.
var itemsTable = document.getElementById("items");
var wantedOutcome = "all";
var searchBox = document.getElementById("item-search");

// One <tbody> per item keeps an item's plan-mode rows together when filtering and sorting.
function applyFilters() {
  var words = (searchBox ? searchBox.value : "").toLowerCase().split(/\s+/).filter(Boolean);
  var shown = 0, groups = itemsTable.tBodies;
  for (var i = 0; i < groups.length; i++) {
    var text = groups[i].textContent.toLowerCase();
    var hide = (wantedOutcome !== "all" && groups[i].dataset.outcome !== wantedOutcome)
      || !words.every(function (w) { return text.indexOf(w) >= 0; });
    groups[i].hidden = hide;
    for (var r = 0; r < groups[i].rows.length; r++) { groups[i].rows[r].hidden = hide; }
    if (!hide) { shown++; }
  }
  document.getElementById("items-shown").textContent =
    shown === groups.length ? "" : shown + " of " + groups.length + " items shown";
}
document.querySelectorAll(".filters button").forEach(function (button) {
  button.addEventListener("click", function () {
    wantedOutcome = button.dataset.outcome;
    document.querySelectorAll(".filters button").forEach(function (b) {
      b.classList.toggle("on", b === button);
    });
    applyFilters();
  });
});
if (searchBox) { searchBox.addEventListener("input", applyFilters); }

function sortKey(group, column, numeric) {
  var cell = group.rows[0].cells[column];
  var value = cell ? (cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim()) : "";
  if (!numeric) { return value.toLowerCase(); }
  // empty (not measured) sorts after every number, whichever the direction
  return value === "" || isNaN(parseFloat(value)) ? null : parseFloat(value);
}
itemsTable.querySelectorAll("th.sortable").forEach(function (header, column) {
  header.addEventListener("click", function () {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var numeric = header.dataset.type === "num";
    itemsTable.querySelectorAll("th.sortable").forEach(function (h) { h.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var groups = Array.prototype.slice.call(itemsTable.tBodies);
    groups.sort(function (a, b) {
      var x = sortKey(a, column, numeric), y = sortKey(b, column, numeric);
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return ascending ? order : -order;
    });
    groups.forEach(function (group) { itemsTable.appendChild(group); });
  });
});

// The text to copy sits once in the page, in the hidden element after its button.
function copyText(button) {
  var source = button.nextElementSibling;
  var text = source.textContent;
  if (source.tagName === "SCRIPT") { text = JSON.stringify(JSON.parse(text), null, 2); }
  return text;
}
// A page opened from a file may not get the clipboard API: then a selected textarea and
// execCommand copy, the textarea kept (off screen) with what was copied.
function copyByHand(text) {
  var area = document.getElementById("copy-buffer");
  if (!area) {
    area = document.createElement("textarea");
    area.id = "copy-buffer";
    area.setAttribute("readonly", "");
    area.setAttribute("aria-hidden", "true");
    document.body.appendChild(area);
  }
  area.value = text;
  area.select();
  return document.execCommand("copy");
}
document.querySelectorAll("button.copy").forEach(function (button) {
  button.addEventListener("click", function () {
    var text = copyText(button);
    var done = function () { button.textContent = "copied " + button.dataset.what; };
    var byHand = function () { copyByHand(text); done(); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, byHand);
    } else {
      byHand();
    }
  });
});

function openTarget() {
  var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target && target.tagName === "DETAILS") { target.open = true; }
}
window.addEventListener("hashchange", openTarget);
openTarget();
