#pragma once
// Internal to testing/: how gradcheck and gradcheck_tape score one analytic/numeric pair and file it
// into a report (anything with kinks, checked, max_rel_error and worst).
#include <algorithm>
#include <cmath>

#include "gradcheck.hpp"

namespace xgrad::testing_detail {

// Relative error, compared absolutely below min_scale (see GradcheckOptions::min_scale).
inline void score(GradcheckElement& el, double min_scale) {
  const double scale = std::max({std::abs(el.analytic), std::abs(el.numeric), min_scale});
  el.rel_error = std::abs(el.analytic - el.numeric) / scale;
}

// Files one compared element (or direction) into the report: a kink crossing aside, else the worst so far.
template <class Report>
void tally(Report& report, const GradcheckElement& el, bool crossed_kink) {
  if (crossed_kink) {
    report.kinks.push_back(el);
    return;
  }
  ++report.checked;
  if (report.checked == 1 || el.rel_error > report.max_rel_error) {
    report.max_rel_error = el.rel_error;
    report.worst = el;
  }
}

}  // namespace xgrad::testing_detail
