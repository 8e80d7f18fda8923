// Filters the items table by verdict and opens an item's details when its link is followed.
// The report reads fine without it: plans and details are native <details> elements.
document.querySelectorAll(".filters button").forEach(function (button) {
  button.addEventListener("click", function () {
    var wanted = button.dataset.outcome;
    document.querySelectorAll(".filters button").forEach(function (b) {
      b.classList.toggle("on", b === button);
    });
    document.querySelectorAll("#items tbody tr").forEach(function (row) {
      row.hidden = wanted !== "all" && row.dataset.outcome !== wanted;
    });
  });
});
function openTarget() {
  var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target && target.tagName === "DETAILS") { target.open = true; }
}
window.addEventListener("hashchange", openTarget);
openTarget();
