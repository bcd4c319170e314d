#include "parplan/planner/ties.hpp"

#include <algorithm>
#include <numeric>

namespace parplan::planner {

int parallel_dimensions(const Layout& l) {
  return int(l.dp > 1) + int(l.tp > 1) + int(l.pp > 1) + int(l.cp > 1) + int(l.ep > 1);
}

TieOrder order_ties(const std::vector<Candidate>& c, const std::vector<cost::Interval>& iv) {
  TieOrder t;
  t.order.resize(c.size());
  std::iota(t.order.begin(), t.order.end(), 0);
  if (c.empty() || iv.size() != c.size()) return t;
  std::vector<size_t> tied, rest;
  for (size_t i = 0; i < c.size(); ++i)
    (i == 0 || iv[i].step_lo <= iv[0].step_hi ? tied : rest).push_back(i);
  std::stable_sort(tied.begin(), tied.end(), [&](size_t a, size_t b) {
    const int da = parallel_dimensions(c[a].layout), db = parallel_dimensions(c[b].layout);
    return da != db ? da < db : a < b;  // a < b: the search's ranking (step time first)
  });
  t.tied = tied.size();
  t.order = tied;
  t.order.insert(t.order.end(), rest.begin(), rest.end());
  return t;
}

}  // namespace parplan::planner
