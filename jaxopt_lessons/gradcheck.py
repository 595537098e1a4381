"""placeholder"""
class GradCheck: pass
def check_grad(*a, **k): raise NotImplementedError
def assert_grad_close(*a, **k): raise NotImplementedError
