import unittest

from logic import shout


class ShoutTest(unittest.TestCase):
    def test_shouts_the_greeting(self):
        self.assertEqual(shout({"greeted": "Ada"}), ("HELLO, ADA!\n", {"shouted": "HELLO, ADA!"}))

    def test_refuses_a_state_without_a_name(self):
        with self.assertRaises(ValueError):
            shout({})


if __name__ == "__main__":
    unittest.main()
