# Dates as the staff pages show them (dd-mm-åååå), and the other ways people type them.
DATE_INPUT_FORMATS = ["%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                          "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
