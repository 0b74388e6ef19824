import numpy as np

from clusterer.duplicates import DuplicateParams, PairEvidence, group_pairs, overlap, shingles
from clusterer.records import day_number
from clusterer.stories.linkage import average_linkage, merge_groups
from clusterer.stories.similarity import StoryParams, damping
from clusterer.stories.teasers import attach_teasers


def test_overlap_of_wording():
    a = shingles("Le ministre a reçu la délégation russe à Hanoi le 18 février.")
    b = shingles("Le ministre a reçu la délégation russe à Hanoï le 18 février 2019.")
    c = shingles("Le comité populaire de Hanoi a rencontré une délégation russe.")
    assert overlap(a, b) > 0.6
    assert overlap(a, c) < 0.3
    assert overlap(frozenset(), a) == 0.0


def _ev(**kw):
    base = dict(
        i=0,
        j=1,
        same_language=False,
        cosine=0.3,
        overlap=0.0,
        containment=0.0,
        chars=2000,
        aligned=8,
        share=0.8,
        sentences=8,
    )
    base.update(kw)
    return PairEvidence(**base)


def test_duplicate_rule_same_language_needs_shared_wording():
    p = DuplicateParams()
    none = dict(aligned=None, share=None)
    assert _ev(same_language=True, overlap=0.8, containment=0.9, cosine=0.01, **none).is_duplicate(p)
    assert not _ev(same_language=True, overlap=0.2, containment=0.3, cosine=0.99, **none).is_duplicate(p)
    # a republication cut short: most of the shorter text is in the longer one
    assert _ev(same_language=True, overlap=0.3, containment=0.8, **none).is_duplicate(p)
    # ... but only for article-length texts: one-line summaries share template phrases
    assert not _ev(same_language=True, overlap=0.3, containment=0.8, chars=120, **none).is_duplicate(p)


def test_duplicate_rule_by_alignment_needs_aligned_sentences():
    p = DuplicateParams()
    assert _ev().is_duplicate(p)
    assert not _ev(aligned=None, share=None).is_duplicate(p)  # not aligned: no verdict
    assert not _ev(share=0.2).is_duplicate(p)  # separate reports of one event
    assert not _ev(aligned=2, share=1.0, sentences=2).is_duplicate(p)  # too few sentences to tell
    assert not _ev(aligned=3, share=1.0, sentences=2).is_duplicate(p)  # ... a headline is no sentence
    assert not _ev(differing=2).is_duplicate(p)  # two matches gave other figures: another month's report
    assert _ev(differing=1).is_duplicate(p)  # one may (a date written out in one language)
    assert not _ev(cosine=0.05).is_duplicate(p)
    # short texts: close (centred cosine 0.5), every line aligned, two of them sentences
    assert not _ev(chars=150).is_duplicate(p)
    short = dict(chars=300, cosine=0.6, share=1.0)
    assert _ev(**short, aligned=3, sentences=2, fewer_sentences=2).is_duplicate(p)
    # a credit line or a headline that does not align is no matter; a sentence is
    assert _ev(**{**short, "share": 0.75}, aligned=3, sentences=3, fewer_sentences=3).is_duplicate(p)
    assert not _ev(**short, aligned=3, sentences=2, fewer_sentences=3).is_duplicate(p)
    assert not _ev(**short, aligned=2, sentences=1, fewer_sentences=1).is_duplicate(p)  # title + blurb
    assert not _ev(**{**short, "cosine": 0.4}, aligned=3, sentences=3, fewer_sentences=3).is_duplicate(p)
    assert _ev(same_language=True).is_duplicate(p)  # two translations into one language


def test_group_pairs_components():
    assert group_pairs(6, [(0, 3), (3, 5), (1, 2)]) == [[0, 3, 5], [1, 2]]
    assert group_pairs(3, []) == []


def test_group_pairs_does_not_chain_near_misses():
    # 0-1-2 are one article; 3 passes only with 2, 4 only with 3: a chain, not a group
    good = {(0, 1), (0, 2), (1, 2), (2, 3), (3, 4)}
    check = lambda pairs: [p in good for p in pairs]  # noqa: E731
    pairs = [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert group_pairs(5, pairs) == [[0, 1, 2, 3, 4]]
    assert group_pairs(5, pairs, check, support=0.34) == [[0, 1, 2], [3, 4]]
    assert group_pairs(5, pairs, check, support=0.0) == [[0, 1, 2, 3, 4]]


def test_containment_from_overlap_matches_exact_sets():
    from clusterer.duplicates import containment, containment_from_overlap

    a = frozenset(range(100))
    b = frozenset(range(60, 400))  # 40 of a's 100 in b
    est = containment_from_overlap(overlap(a, b), len(a), len(b))
    assert abs(float(est) - containment(a, b)) < 1e-9 and abs(containment(a, b) - 0.4) < 1e-9


def test_day_number_reads_partial_dates():
    assert day_number("2018-12-11") - day_number("2018-12-01") == 10
    assert day_number("2018-12") == day_number("2018-12-15")
    assert day_number("2023-04-04T13:00:15Z") > day_number("2023-04-04")
    assert day_number(None) is None and day_number("soon") is None


def test_damping_damps_far_apart_dates_only():
    w = damping(np.array([1.0, 200.0, np.nan]), StoryParams(time_scale_days=30))  # NaN: a date unknown
    assert w[0] > 0.99 and w[1] < 0.01 and w[2] == 1.0
    assert (damping(np.array([1.0, 200.0]), StoryParams(time_scale_days=None)) == 1.0).all()


def test_average_linkage_cuts_at_threshold_and_is_order_free():
    sims = np.array(
        [[1, 0.9, 0.8, 0, 0], [0.9, 1, 0.7, 0, 0], [0.8, 0.7, 1, 0.1, 0], [0, 0, 0.1, 1, 0.6], [0, 0, 0, 0.6, 1]],
        dtype=float,
    )
    labels = average_linkage(sims, threshold=0.5)
    assert list(labels) == [0, 0, 0, 1, 1]
    assert len(set(average_linkage(sims, threshold=0.95))) == 5
    perm = [4, 2, 0, 3, 1]
    permuted = average_linkage(sims[np.ix_(perm, perm)], threshold=0.5)
    assert [permuted[perm.index(i)] == permuted[perm.index(j)] for i, j in [(0, 1), (3, 4), (0, 3)]] == [
        True,
        True,
        False,
    ]


def test_merge_groups_joins_clusters_of_a_group():
    assert list(merge_groups(np.array([0, 1, 2, 1]), [[0, 2]])) == [0, 1, 0, 1]


def test_teasers_join_only_a_clear_story():
    arts = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.95, 0.05]], dtype=float)
    arts /= np.linalg.norm(arts, axis=1, keepdims=True)
    labels = np.array([0, 0, 1, 1])
    teasers = np.array([[1, 0, 0], [0.7, 0.7, 0], [0, 0, 1]], dtype=float)
    teasers /= np.linalg.norm(teasers, axis=1, keepdims=True)
    joined = attach_teasers(teasers, arts, labels, [0, 1], StoryParams())
    assert joined == [0, None, None]  # clear; torn between two stories; unrelated
    assert attach_teasers(teasers, arts, labels, [], StoryParams()) == [None, None, None]


def test_sketch_estimates_wording_overlap():
    from clusterer.duplicates import TextFeatures, sketch, sketch_overlap

    base = (
        "The regional council approved the new budget on Tuesday after a long debate, with "
        "funds for schools, hospitals, public transport and the repair of old bridges."
    )
    edited = base.replace("Tuesday", "Wednesday") + " The vote was 41 to 12."
    other = "Heavy snow closed the mountain pass and several villages were cut off for two days."
    for a, b in ((base, edited), (base, other)):
        exact = overlap(shingles(a), shingles(b))
        assert abs(sketch_overlap(sketch(a), sketch(b)) - exact) < 0.15
    assert sketch_overlap(sketch(""), sketch("")) == 0.0
    assert (sketch(base) == sketch(base)).all()  # stable: no per-run randomness
    f = TextFeatures.of(edited, "en")
    assert f.chars == len(edited) and f.grams == len(shingles(edited))


def test_length_scale_lowers_the_cut_between_full_articles_only():
    from clusterer.stories.similarity import length_scale

    p = StoryParams()
    s = length_scale([100, 400, 950, 1500, 5000], p)
    assert s[0] == s[1] == 1.0  # short texts: the cut stays at p.threshold
    assert 1.0 < s[2] < s[3] == s[4]
    # two full articles are cut at long_threshold, a full article and a blurb in between
    assert abs(p.threshold / (s[3] * s[4]) - p.long_threshold) < 1e-6
    assert p.long_threshold < p.threshold / (s[0] * s[3]) < p.threshold
    assert (length_scale([5000], StoryParams(long_threshold=None)) == 1.0).all()


def _old_group_pairs(n, pairs, check=None, support=0.5, cap=16):
    """group_pairs as it was: its own union-find, members kept sorted per root."""
    parent = list(range(n))
    members: dict = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ga, gb = members.get(ra, [ra]), members.get(rb, [rb])
        if check is not None and len(ga) + len(gb) > 2:
            across = [(min(x, y), max(x, y)) for x in ga[:cap] for y in gb[:cap]]
            if sum(check(across)) < support * len(across):
                continue
        root, other = min(ra, rb), max(ra, rb)
        parent[other] = root
        members[root] = sorted(ga + gb)
        members.pop(other, None)
    groups: dict = {}
    for x in range(n):
        groups.setdefault(find(x), []).append(x)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def test_group_pairs_equals_the_old_union_find():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(2, 60))
        pairs = [tuple(int(v) for v in rng.choice(n, 2, replace=False)) for _ in range(int(rng.integers(0, 2 * n)))]
        side = rng.integers(0, 3, n)  # a check that passes pairs of one side only

        def check(across, side=side):
            return [bool(side[a] == side[b]) for a, b in across]

        assert group_pairs(n, pairs) == _old_group_pairs(n, pairs)
        for support in (0.34, 0.5, 1.0):
            assert group_pairs(n, pairs, check, support) == _old_group_pairs(n, pairs, check, support)
