from edgeqa.sequences import common_prefix_length


def test_common_prefix_length():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    assert common_prefix_length([[1, 2], [1, 2]], keep_one=True) == 1
    assert common_prefix_length([]) == 0
